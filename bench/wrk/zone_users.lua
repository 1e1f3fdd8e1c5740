-- Pipelined requests for many users (bench/zone_users.py):
--   wrk -s bench/wrk/zone_users.lua URL -- DEPTH USERS MODE
-- MODE: "one" (X-User-Id: alice), "uniform" (u0 .. u<USERS-1>, uniformly
-- at random), "zipf" (log-uniform rank: P(rank k) ~ 1/k, Zipf with s = 1).
-- Every request is built fresh, so the user ids cover the whole range.

local depth, users, mode, path

function init(args)
    depth = tonumber(args[1]) or 16
    users = tonumber(args[2]) or 1
    mode = args[3] or "one"
    path = wrk.path
    math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end

local function user()
    if mode == "uniform" then
        return "u" .. math.random(0, users - 1)
    elseif mode == "zipf" then
        local k = math.floor(users ^ math.random())
        if k >= users then k = users - 1 end
        return "u" .. k
    end
    return "alice"
end

function request()
    local r = {}
    for i = 1, depth do
        r[i] = "GET " .. path .. " HTTP/1.1\r\nHost: bench\r\nX-User-Id: "
               .. user() .. "\r\n\r\n"
    end
    return table.concat(r)
end
