dofile("/etc/passwd")
function envoy_on_request(request_handle) end
