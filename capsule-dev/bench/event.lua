-- wrk script: POST one event to capsule-dev, again and again.
-- Usage: TOKEN=... EVENT=tool_invocation wrk -s event.lua http://127.0.0.1:8787
-- EVENT is tool_invocation (blocking, decided by the policy) or session_start (telemetry).

local event = os.getenv("EVENT") or "tool_invocation"
local bodies = {
  tool_invocation = [[{"event_type":"tool_invocation","session_id":"sess-bench",]]
    .. [["timestamp":"2026-03-03T10:30:00Z",]]
    .. [["agent":{"id":"bench-agent","name":"Bench Agent"},"user":{"email":"u@example.com"},]]
    .. [["tool":{"name":"database_query","input":{"query":"SELECT * FROM orders"}}}]],
  session_start = [[{"event_type":"session_start","session_id":"sess-bench",]]
    .. [["timestamp":"2026-03-03T10:30:00Z",]]
    .. [["agent":{"id":"bench-agent","name":"Bench Agent"},"user":{"email":"u@example.com"}}]],
}

wrk.method = "POST"
wrk.path = "/v1/generic-webhook/hooks/events"
wrk.body = assert(bodies[event], "EVENT must be tool_invocation or session_start")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. assert(os.getenv("TOKEN"), "set TOKEN")

-- wrk counts any answer that is not 2xx or 3xx as "Non-2xx or 3xx responses".
