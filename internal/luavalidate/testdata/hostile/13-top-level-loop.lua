local i = 0
repeat i = i + 1 until false
function envoy_on_request(request_handle) end
