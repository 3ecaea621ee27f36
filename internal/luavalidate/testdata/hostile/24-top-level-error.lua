local x = nil
local y = x.field
function envoy_on_request(request_handle) end
