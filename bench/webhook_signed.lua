-- wrk script: POST pre-signed WhatsApp webhook bodies, a different one per request.
-- The bodies file has one "<signature>\t<json body>" per line (made by bench/webhook_throughput.py).
local counter = 1
local threads = {}

function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

function init(args)
  sigs, bodies = {}, {}
  for line in io.lines(args[1]) do
    local sig, body = line:match("^([^\t]+)\t(.*)$")
    sigs[#sigs + 1] = sig
    bodies[#bodies + 1] = body
  end
  -- Each thread walks its own stride of the file, so threads do not resend each other's bodies.
  nthreads = tonumber(args[2]) or 1
  idx = id - 1
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  idx = idx + nthreads
  local i = (idx % #bodies) + 1
  wrk.headers["X-Hub-Signature-256"] = sigs[i]
  return wrk.format("POST", "/webhooks/whatsapp/", nil, bodies[i])
end

function done(summary, latency, requests)
  io.write(string.format(
    "WRKJSON {\"requests\": %d, \"duration_us\": %d, \"errors_status\": %d, \"errors_connect\": %d, \"errors_read\": %d, \"errors_write\": %d, \"errors_timeout\": %d, \"p50_us\": %d, \"p90_us\": %d, \"p99_us\": %d, \"max_us\": %d}\n",
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
