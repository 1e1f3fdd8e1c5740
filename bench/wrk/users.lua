-- One of N users a request, in turn: "X-User-Id: u1" ... "uN", so that
-- every request is one of many known users (bench/stale.py) or a cluster's
-- masters all serve (bench/redis_ha.py).  N is wrk's first script argument
-- (wrk -s bench/wrk/users.lua URL -- N), else $BENCH_USERS, else 1000.

local n = tonumber(os.getenv("BENCH_USERS") or "1000")
local i = 0

function init(args)
    n = tonumber(args[1]) or n
    -- threads start at different users
    i = math.random(n)
end

function request()
    i = i % n + 1
    wrk.headers["X-User-Id"] = "u" .. i
    return wrk.format()
end

-- the share of requests that took 45 ms or more (waited for the mock's
-- 50 ms provider): the percentile where the latency reaches it
function done(summary, latency, requests)
    local lo, hi = 0.0, 100.0
    if latency.max < 45000 then
        io.write("slow share: 0.000%\n")
        return
    end
    for _ = 1, 40 do
        local mid = (lo + hi) / 2
        if latency:percentile(mid) >= 45000 then
            hi = mid
        else
            lo = mid
        end
    end
    io.write(string.format("slow share: %.3f%%\n", 100.0 - hi))
end
