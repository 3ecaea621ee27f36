function envoy_on_response(response_handle)
  response_handle:headers():ad("x-lua-custom", "FOO")
end
