function envoy_on_response(response_handle)
  local body = response_handle:body(true)
  body:setBytes("<html><b>Not Found<b></html>")
  response_handle:headers():replace("content-type", "text/html")
end
