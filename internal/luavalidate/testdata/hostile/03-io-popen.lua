function envoy_on_request(request_handle)
  local p = io.popen("id")
end
