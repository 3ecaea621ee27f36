function envoy_on_request(request_handle)
  load(function() return nil end)
end
