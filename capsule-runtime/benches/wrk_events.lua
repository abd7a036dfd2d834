-- The plain-HTTP baseline for the delivery benchmark: wrk POSTs the same
-- agent_message event the SDK sends, one per request, on keep-alive connections.
--
--   wrk -t1 -c4 -d10s -s capsule-runtime/benches/wrk_events.lua \
--       http://127.0.0.1:8787 -- <token printed by capsule-dev>

local body = '{"event_type":"agent_message","session_id":"sess-wrk",'
  .. '"timestamp":"2026-03-03T10:30:06Z",'
  .. '"agent":{"id":"bench-agent","name":"Benchmark Agent"},'
  .. '"user":{"email":"bench@example.com"},'
  .. '"message":{"content":"Order #12345 has been shipped."}}'

function init(args)
  wrk.method = "POST"
  wrk.path = "/v1/generic-webhook/hooks/events"
  wrk.body = body
  wrk.headers["Authorization"] = "Bearer " .. args[1]
  wrk.headers["Content-Type"] = "application/json"
end

function done(summary, latency, requests)
  io.write(string.format("non-2xx or errors: %d\n",
    summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout))
end
