-- Helpers, module-level state and the safe os functions.
local counter = 0
local function starts_with(s, prefix)
  return string.sub(s, 1, #prefix) == prefix
end

function envoy_on_request(request_handle)
  counter = counter + 1
  local path = request_handle:headers():get(":path")
  if starts_with(path, "/admin") then
    request_handle:respond({[":status"] = "403"}, "forbidden")
  end
  request_handle:headers():add("x-started", tostring(os.time()))
  request_handle:headers():add("x-date", os.date("!%Y-%m-%d"))
  local ok, err = pcall(function() return tonumber("12") + 1 end)
  local parts = {}
  for word in string.gmatch("a,b,c", "[^,]+") do
    table.insert(parts, word)
  end
  request_handle:headers():add("x-parts", table.concat(parts, "|"))
end
