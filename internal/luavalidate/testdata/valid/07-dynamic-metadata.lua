function envoy_on_request(request_handle)
  request_handle:streamInfo():dynamicMetadata():set("envoy.filters.http.lua", "request.info", {
    auth = request_handle:headers():get("authorization"),
    token = request_handle:headers():get("x-request-token"),
  })
end

function envoy_on_response(response_handle)
  local meta = response_handle:streamInfo():dynamicMetadata():get("envoy.filters.http.lua")
  if meta ~= nil and meta["request.info"] ~= nil then
    response_handle:logInfo("auth: " .. tostring(meta["request.info"].auth))
  end
  for key, value in pairs(response_handle:streamInfo():dynamicMetadata()) do
    response_handle:logTrace(key)
  end
end
