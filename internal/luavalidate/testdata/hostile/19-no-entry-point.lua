function on_request(request_handle)
  request_handle:headers():add("x", "y")
end
