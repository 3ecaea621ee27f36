function envoy_on_request(request_handle)
  request_handle:headers():add("x-secret", os.getenv("AWS_SECRET_ACCESS_KEY"))
end
