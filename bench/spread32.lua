-- 32 counters: every request increments one of them, round robin, so each
-- of the 32 connections mostly hits its own instance.
local n = 0
request = function()
  n = n + 1
  return wrk.format("POST", "/_do/counter/s" .. (n % 32))
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT req_s=%.0f p50_ms=%.2f p99_ms=%.2f errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.errors.status + summary.errors.connect +
    summary.errors.read + summary.errors.write + summary.errors.timeout))
end
