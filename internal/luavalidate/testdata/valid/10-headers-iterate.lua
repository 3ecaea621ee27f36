function envoy_on_request(request_handle)
  local headers = request_handle:headers()
  for key, value in pairs(headers) do
    request_handle:logDebug(key .. ": " .. value)
  end
  local n = headers:getNumValues("accept")
  local first = headers:getAtIndex("accept", 0)
  headers:replace("x-path", headers:get(":path"))
end
