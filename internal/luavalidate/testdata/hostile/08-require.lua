local socket = require("socket")
function envoy_on_request(request_handle) end
