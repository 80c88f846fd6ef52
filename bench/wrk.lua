-- wrk script for bench/run.sh and the scripts using bench/benchlib.py.
--
-- The request is described by environment variables and set once on the `wrk` table, so wrk
-- builds it a single time and sends the same bytes on every request (no per-request Lua):
--   BENCH_METHOD  GET (default) or POST
--   BENCH_BODY    request body; when set, Content-Type is BENCH_CONTENT_TYPE
--   BENCH_CONTENT_TYPE  the body's type (default application/x-www-form-urlencoded)
--   BENCH_AUTH    full Authorization header value, e.g. "Basic Y2xpZW50OnNlY3JldA=="
--   BENCH_COOKIE  full Cookie header value
--
-- There is deliberately no `response` hook: defining one makes wrk hand every response to Lua,
-- which slows the client and skews the ratios. wrk already counts responses with status > 399
-- (errors.status, the "Non-2xx or 3xx responses" line) and socket errors; `done` prints them,
-- with the latency percentiles, as one machine-readable line that run.sh and benchlib.py parse
-- and check.

local method = os.getenv("BENCH_METHOD")
if method ~= nil and method ~= "" then
  wrk.method = method
end

local body = os.getenv("BENCH_BODY")
if body ~= nil and body ~= "" then
  wrk.body = body
  local ctype = os.getenv("BENCH_CONTENT_TYPE")
  if ctype == nil or ctype == "" then
    ctype = "application/x-www-form-urlencoded"
  end
  wrk.headers["Content-Type"] = ctype
end

local auth = os.getenv("BENCH_AUTH")
if auth ~= nil and auth ~= "" then
  wrk.headers["Authorization"] = auth
end

local cookie = os.getenv("BENCH_COOKIE")
if cookie ~= nil and cookie ~= "" then
  wrk.headers["Cookie"] = cookie
end

local function int(x)
  return math.floor(tonumber(x) or 0)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p75":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    int(summary.requests), int(summary.duration), int(summary.bytes),
    int(e.connect), int(e.read), int(e.write), int(e.status), int(e.timeout),
    int(latency:percentile(50)), int(latency:percentile(75)), int(latency:percentile(90)),
    int(latency:percentile(99)), int(latency.max), tonumber(latency.mean) or 0))
end
