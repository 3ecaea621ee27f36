function envoy_on_request(request_handle)
  local t = {unpack({}, 1, 100000000)}
end
