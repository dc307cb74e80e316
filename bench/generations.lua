-- wrk script for the server benches: POST /v1/images/generations with a different prompt in every request.
--   BENCH_MODE=url     dall-e-3, 1024x1024, url answers (the default response_format)
--   BENCH_MODE=b64     the same as b64_json: every request a new image to render
--   BENCH_MODE=repeat  b64_json with one fixed prompt: the cached path
--   BENCH_MODE=mixed   memory bench: url answers whose images are then fetched, b64_json, another model with an
--                      unknown field (a journaled violation), and 400s
-- Prints one machine-readable line: RESULT requests duration_us p50_us p99_us non_2xx socket_errors max_us.

local mode = os.getenv("BENCH_MODE") or "url"
local key = os.getenv("BENCH_KEY") or "sk-bench"
local counter = 0
local thread_id = 0
local threads = {}

local text = "A watercolor painting of a red fox reading a newspaper in a sunlit Paris cafe, warm morning light"

function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
  table.insert(threads, thread)
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. key

local function body_for(n)
  local prompt = text .. ", take " .. tid .. "-" .. n
  if mode == "url" then
    return '{"model":"dall-e-3","prompt":"' .. prompt .. '","size":"1024x1024"}'
  elseif mode == "b64" then
    return '{"model":"dall-e-3","prompt":"' .. prompt .. '","size":"1024x1024","response_format":"b64_json"}'
  elseif mode == "repeat" then
    return '{"model":"dall-e-3","prompt":"' .. text .. '","size":"1024x1024","response_format":"b64_json"}'
  else -- mixed
    local kind = n % 10
    if kind < 6 then
      return '{"model":"dall-e-3","prompt":"' .. prompt .. '","size":"1024x1024","quality":"hd"}'
    elseif kind < 8 then
      return '{"model":"dall-e-2","prompt":"' .. prompt .. '","size":"256x256","n":2,"response_format":"b64_json"}'
    elseif kind < 9 then
      return '{"model":"flux/schnell","prompt":"' .. prompt .. '","image_size":"landscape_4_3","colour":"blue"}'
    else
      return '{"model":"dall-e-3","prompt":"' .. prompt .. '","size":"512x512"}'  -- a 400: invalid size
    end
  end
end

local fetches = {}  -- image paths from url answers, fetched by later requests (mixed mode)

function request()
  counter = counter + 1
  if mode == "mixed" and #fetches > 0 and counter % 10 == 5 then
    return wrk.format("GET", table.remove(fetches))
  end
  return wrk.format(nil, "/v1/images/generations", nil, body_for(counter))
end

if mode == "mixed" then
  function response(status, headers, body)
    local path = body and string.match(body, '"url":"https?://[^/]+(/images/[^"]+)"')
    if path and #fetches < 100 then
      table.insert(fetches, path)
    end
  end
end

function done(summary, latency, requests)
  local non_2xx = 0
  if mode ~= "mixed" then non_2xx = summary.errors.status end
  local socket_errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT %d %d %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), non_2xx, socket_errors, latency.max))
end
