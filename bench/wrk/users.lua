-- One of N users a request, in turn (wrk -s bench/wrk/users.lua URL -- N):
-- "X-User-Id: u1" ... "uN", so that a cluster's masters all serve.

local n, i = 1, 0

function init(args)
    n = tonumber(args[1]) or 1
end

function request()
    i = i % n + 1
    return wrk.format(nil, nil, { ["X-User-Id"] = "u" .. i })
end
