function envoy_on_request(request_handle)
  local s = "x"
  for i = 1, 40 do s = s .. s end
end
