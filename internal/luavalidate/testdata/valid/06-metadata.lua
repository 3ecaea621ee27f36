function envoy_on_request(request_handle)
  request_handle:logInfo(request_handle:metadata():get("foo.bar")["baz"])
end
