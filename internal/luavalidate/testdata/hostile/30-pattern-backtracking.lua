function envoy_on_request(request_handle)
  local s = string.rep("a", 100000)
  local found = string.find(s, ".-.-.-.-x")
end
