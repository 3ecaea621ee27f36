function envoy_on_response(response_handle)
  response_handle:headers():add("x-lua-custom", "FOO")
end
