function envoy_on_request(request_handle)
  request_handle:headers():add("x", string.format("%99999999d", 1))
end
