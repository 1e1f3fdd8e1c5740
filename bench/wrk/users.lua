-- Rotates the X-User-Id header over $BENCH_USERS users (u1..uN), for
-- bench/stale.py: every request is one of many known users.

local n = tonumber(os.getenv("BENCH_USERS") or "1000")
local i = 0

function init(args)
    -- threads start at different users
    i = math.random(n)
end

function request()
    i = i % n + 1
    wrk.headers["X-User-Id"] = "u" .. i
    return wrk.format()
end
