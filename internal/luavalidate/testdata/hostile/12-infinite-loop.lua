function envoy_on_request(request_handle)
  while true do end
end
