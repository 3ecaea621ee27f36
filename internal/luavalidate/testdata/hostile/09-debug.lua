function envoy_on_request(request_handle)
  local info = debug.getinfo(1)
end
