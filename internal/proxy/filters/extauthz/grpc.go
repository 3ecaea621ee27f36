package extauthz

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/proto"

	"github.com/portico-gw/portico/internal/proxy/filters"
)

// checkPath is the Authorization service's Check method.
const checkPath = "/envoy.service.auth.v3.Authorization/Check"

// maxResponseBytes bounds an authorization server's answer.
const maxResponseBytes = 4 << 20

// grpcCall sends one unary gRPC request through the cluster: gRPC is
// HTTP/2 with length-prefixed messages and the status in trailers, so the
// cluster's own HTTP/2 transport (its hosts, balancing, TLS and pooled
// connections, unix sockets included) carries it.
func grpcCall(ctx context.Context, ups filters.Upstreams, cluster, authority string, md http.Header,
	timeout time.Duration, in *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	msg, err := proto.Marshal(in)
	if err != nil {
		return nil, err
	}
	frame := make([]byte, 5+len(msg))
	binary.BigEndian.PutUint32(frame[1:5], uint32(len(msg)))
	copy(frame[5:], msg)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+authority+checkPath, bytes.NewReader(frame))
	if err != nil {
		return nil, err
	}
	for k, vs := range md {
		req.Header[k] = vs
	}
	req.Host = authority
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	if timeout > 0 {
		req.Header.Set("Grpc-Timeout", strconv.FormatInt(timeout.Milliseconds(), 10)+"m")
	}
	req.ContentLength = int64(len(frame))
	resp, err := ups.RoundTrip(cluster, req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("authorization server answered HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+6))
	if err != nil {
		return nil, err
	}
	if st, msg, ok := grpcStatus(resp); ok && st != "0" {
		return nil, fmt.Errorf("authorization server: gRPC status %s: %s", st, msg)
	} else if !ok {
		return nil, fmt.Errorf("authorization server sent no gRPC status")
	}
	if len(body) < 5 || body[0] != 0 {
		return nil, fmt.Errorf("authorization server sent no (uncompressed) message")
	}
	n := binary.BigEndian.Uint32(body[1:5])
	if int(n) != len(body)-5 {
		return nil, fmt.Errorf("authorization server sent a malformed message")
	}
	out := &authv3.CheckResponse{}
	if err := proto.Unmarshal(body[5:], out); err != nil {
		return nil, fmt.Errorf("authorization server sent a malformed CheckResponse: %v", err)
	}
	return out, nil
}

// grpcStatus reads grpc-status from the trailers, or from the headers of a
// trailers-only answer.
func grpcStatus(resp *http.Response) (code, msg string, ok bool) {
	for _, h := range []http.Header{resp.Trailer, resp.Header} {
		if c := h.Get("Grpc-Status"); c != "" {
			m, _ := url.PathUnescape(h.Get("Grpc-Message"))
			return c, m, true
		}
	}
	return "", "", false
}
