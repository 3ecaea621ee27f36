function envoy_on_response(response_handle)
  local trailers = response_handle:trailers()
  if trailers ~= nil then
    response_handle:logInfo(trailers:get("grpc-status") or "none")
  end
end
