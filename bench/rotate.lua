-- wrk script for bench/load.sh: POST an AssumeRoleWithWebIdentity form with a rotating token,
-- or GET /v1/credentials (pod identity) with the token as the Authorization header.
--
-- wrk ... -s bench/rotate.lua URL -- MODE PATH [DELAY_MS [SKIP [KIND]]]
--   MODE  stream  each thread reads PATH-<thread>.txt line by line, one new token per request
--                 (wrapping around at the end, which done() reports), after skipping the
--                 number of lines SKIP gives for it (a comma-separated list, one per thread:
--                 the tokens an earlier run already presented);
--         repeat  every thread cycles through the few tokens of PATH.
--   DELAY_MS      pause before each request on a connection (a fixed offered rate: connections
--                 × 1000 / DELAY_MS requests per second); 0 or absent for as fast as possible.
--   KIND          query (default): the STS query API; pod-identity: GET /v1/credentials.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("id", #threads)
end

local prefix = "Action=AssumeRoleWithWebIdentity&Version=2011-06-15"
   .. "&RoleArn=arn%3Aaws%3Aiam%3A%3Arole%2FBuilder"
   .. "&RoleSessionName=load-test&DurationSeconds=3600&WebIdentityToken="
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }

local mode, path, file, tokens, index, kind
served = 0
wraps = 0

function init(args)
   mode = args[1]
   local delay_ms = tonumber(args[3] or "0")
   kind = args[5] or "query"
   assert(kind == "query" or kind == "pod-identity", "kind must be query or pod-identity")
   if mode == "stream" then
      path = args[2] .. "-" .. id .. ".txt"
      file = assert(io.open(path, "r"))
      local skip, n = 0, 0
      for count in string.gmatch(args[4] or "", "%d+") do
         n = n + 1
         if n == id then skip = tonumber(count) end
      end
      for _ = 1, skip do
         if file:read("*l") == nil then break end
      end
   elseif mode == "repeat" then
      tokens = {}
      for line in io.lines(args[2]) do
         table.insert(tokens, line)
      end
      assert(#tokens > 0, "no tokens in " .. args[2])
      index = 0
   else
      error("mode must be stream or repeat")
   end
   if delay_ms > 0 then
      delay = function() return delay_ms end
   end
end

local function next_token()
   if mode == "repeat" then
      index = index % #tokens + 1
      return tokens[index]
   end
   local line = file:read("*l")
   if line == nil then
      wraps = wraps + 1
      file:close()
      file = assert(io.open(path, "r"))
      line = file:read("*l")
   end
   return line
end

function request()
   served = served + 1
   if kind == "pod-identity" then
      return wrk.format("GET", "/v1/credentials", { ["Authorization"] = next_token() })
   end
   return wrk.format("POST", "/", headers, prefix .. next_token())
end

function done(summary, latency, requests)
   local total, wrapped, each = 0, 0, {}
   for _, thread in ipairs(threads) do
      local served = thread:get("served") or 0
      total = total + served
      wrapped = wrapped + (thread:get("wraps") or 0)
      table.insert(each, tostring(served))
   end
   io.write(string.format("lua_requests_built %d\nlua_token_wraps %d\nlua_thread_served %s\n",
      total, wrapped, table.concat(each, ",")))
end
