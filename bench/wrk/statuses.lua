-- Counts responses by status in 100 ms buckets of wall-clock time
-- counted from $BENCH_T0 (epoch ms), and the first and last time each
-- status was seen, for bench/redis-restart.sh.  When wrk ends, writes
-- one line per (bucket, status) to the file named by $BENCH_STATUS_OUT:
--
--     b <bucket start, epoch ms> <status> <count>
--     first <status> <epoch ms>
--     last <status> <epoch ms>

local ffi = require("ffi")

ffi.cdef [[
typedef struct { long tv_sec; long tv_usec; } bench_timeval_t;
int gettimeofday(bench_timeval_t *tv, void *tz);
]]

local tv = ffi.new("bench_timeval_t")

local function now_ms()
    ffi.C.gettimeofday(tv, nil)
    return tonumber(tv.tv_sec) * 1000 + math.floor(tonumber(tv.tv_usec) / 1000)
end

local t0 = tonumber(os.getenv("BENCH_T0") or "0")
local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

-- per thread, flat keys: wrk copies flat tables between Lua states
counts = {}

function response(status, headers, body)
    local t = now_ms()
    local k = "b " .. (t - (t - t0) % 100) .. " " .. status
    counts[k] = (counts[k] or 0) + 1
    local f = "first " .. status
    if counts[f] == nil then
        counts[f] = t
    end
    counts["last " .. status] = t
end

function done(summary, latency, requests)
    local out = assert(io.open(os.getenv("BENCH_STATUS_OUT"), "w"))
    for _, thread in ipairs(threads) do
        local c = thread:get("counts")
        for k, v in pairs(c) do
            out:write(k, " ", string.format("%d", v), "\n")
        end
    end
    out:close()
end
