function envoy_on_request(request_handle)
  if request_handle:connection():ssl() == nil then
    request_handle:logInfo("plain")
  else
    request_handle:logInfo("secure: " .. request_handle:connection():ssl():tlsVersion())
  end
  local ssl = request_handle:streamInfo():downstreamSslConnection()
  if ssl ~= nil and ssl:peerCertificatePresented() then
    request_handle:headers():add("x-client-digest", ssl:sha256PeerCertificateDigest())
  end
end
