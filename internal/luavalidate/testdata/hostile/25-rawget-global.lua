function envoy_on_request(request_handle)
  local d = rawget(_G, "debug") or getmetatable(_G).__index(_G, "debug")
end
