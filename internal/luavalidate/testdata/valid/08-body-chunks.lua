function envoy_on_response(response_handle)
  for chunk in response_handle:bodyChunks() do
    response_handle:logInfo(chunk:length())
  end
  response_handle:logInfo("done")
end
