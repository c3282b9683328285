-- 10,000 counters: every request increments a random one of them.
math.randomseed(42)
request = function()
  return wrk.format("POST", "/_do/counter/c" .. math.random(1, 10000))
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT req_s=%.0f p50_ms=%.2f p99_ms=%.2f errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.errors.status + summary.errors.connect +
    summary.errors.read + summary.errors.write + summary.errors.timeout))
end
