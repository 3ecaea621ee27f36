function envoy_on_response(response_handle)
  os.exit(1)
end
