local Counter = {}
Counter.__index = Counter
function Counter.new() return setmetatable({n = 0}, Counter) end
function Counter:inc() self.n = self.n + 1; return self.n end
local c = Counter.new()

function envoy_on_request(request_handle)
  local co = coroutine.wrap(function() coroutine.yield(1) end)
  co()
  request_handle:headers():add("x-n", tostring(c:inc()))
  local s = string.rep("ab", 10)
  request_handle:headers():add("x-rep", s)
  local io = "a local named io is fine"
end
