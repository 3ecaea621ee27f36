function envoy_on_request(request_handle)
  local info = request_handle:streamInfo()
  request_handle:headers():add("x-protocol", info:protocol())
  request_handle:headers():add("x-local", info:downstreamLocalAddress())
  request_handle:headers():add("x-remote", info:downstreamDirectRemoteAddress())
  local sni = info:requestedServerName()
end
