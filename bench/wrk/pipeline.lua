-- HTTP/1.1 pipelining: each connection writes DEPTH requests at once
-- (wrk -s bench/wrk/pipeline.lua URL -- DEPTH), so that one wrk thread
-- sends more requests than one nginx worker can serve and the worker,
-- not wrk, is the bottleneck.  The request (method, path, -H headers) is
-- the one wrk would send without the script.

local req

function init(args)
    local depth = tonumber(args[1]) or 16
    local r = {}
    for i = 1, depth do
        r[i] = wrk.format()
    end
    req = table.concat(r)
end

function request()
    return req
end
