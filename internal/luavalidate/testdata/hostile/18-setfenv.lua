function envoy_on_request(request_handle)
  setfenv(1, {})
end
