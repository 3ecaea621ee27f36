-- Called on the request path.
function envoy_on_request(request_handle)
  -- Wait for the whole request body and add a header with its size.
  request_handle:headers():add("request_body_size", request_handle:body():length())
end

-- Called on the response path.
function envoy_on_response(response_handle)
  response_handle:headers():add("response_body_size", response_handle:body():length())
  response_handle:headers():remove("foo")
end
