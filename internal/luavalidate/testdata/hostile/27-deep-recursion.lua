local function f(n) return f(n + 1) + 1 end
function envoy_on_request(request_handle)
  f(1)
end
