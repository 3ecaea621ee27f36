function envoy_on_response(response_handle)
  response_handle:respond({[":status"] = "200"}, "hijacked")
end
