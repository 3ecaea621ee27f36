function envoy_on_request(request_handle)
  local f = string.dump(envoy_on_request)
  if f == nil then error("x") end
  package.loaded["x"] = f
end
