function envoy_on_request(request_handle)
  local t = {}
  local i = 0
  while true do
    i = i + 1
    t[i] = "padding-padding-padding-padding-" .. i
  end
end
