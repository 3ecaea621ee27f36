function envoy_on_request(request_handle)
  local f = loadstring("return 1")
  f()
end
