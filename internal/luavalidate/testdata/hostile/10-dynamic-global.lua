function envoy_on_request(request_handle)
  local lib = _G["i" .. "o"]
  lib.open("/etc/passwd")
end
