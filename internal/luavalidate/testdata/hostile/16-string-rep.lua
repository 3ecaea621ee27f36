function envoy_on_request(request_handle)
  local s = string.rep("x", 2000000000)
end
