package extension

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	pb "github.com/portico-gw/portico/proto/extension"
)

// client is the connection to one extension server and its retry policy.
type client struct {
	target  string
	dial    []grpc.DialOption
	timeout time.Duration
	retry   retryPolicy

	creds func() (credentials.TransportCredentials, error)

	mu   sync.Mutex
	conn *grpc.ClientConn
	api  pb.EnvoyGatewayExtensionClient
}

// retryPolicy is service.retry with Envoy Gateway's defaults.
type retryPolicy struct {
	maxAttempts int
	initial     time.Duration
	max         time.Duration
	multiplier  float64
	retryable   map[codes.Code]bool
}

func newClient(name string, c *egv1a1.ExtensionManager, opts Options) (*client, error) {
	target, serverName, err := targetOf(c.Service, opts.Address)
	if err != nil {
		return nil, err
	}
	size := DefaultMaxMessageSize
	if c.MaxMessageSize != nil {
		v, ok := c.MaxMessageSize.AsInt64()
		if !ok || v <= 0 || v > math.MaxInt32 {
			return nil, fmt.Errorf("maxMessageSize %s is out of range", c.MaxMessageSize.String())
		}
		size = int(v)
	}
	cl := &client{target: target, timeout: opts.CallTimeout, retry: retryOf(c.Service)}
	cl.dial = []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(size), grpc.MaxCallSendMsgSize(size)),
	}
	cl.creds = func() (credentials.TransportCredentials, error) { return insecure.NewCredentials(), nil }
	if c.Service != nil && c.Service.TLS != nil {
		// The certificates are read when connecting, not now: in the server
		// the Secrets arrive with the first resource set.
		t := c.Service.TLS
		cl.creds = func() (credentials.TransportCredentials, error) {
			tc, err := tlsConfig(t, serverName, opts)
			if err != nil {
				return nil, err
			}
			return credentials.NewTLS(tc), nil
		}
	}
	return cl, nil
}

// targetOf maps service (or an override address) to a gRPC target.
func targetOf(s *egv1a1.ExtensionService, override string) (target, serverName string, err error) {
	if s != nil && s.Hostname != nil {
		serverName = *s.Hostname
	}
	switch {
	case override != "":
		if strings.HasPrefix(override, "unix:") {
			return override, serverName, nil
		}
		host, _, err := net.SplitHostPort(override)
		if err != nil {
			return "", "", fmt.Errorf("extension server address %q: %w", override, err)
		}
		if serverName == "" {
			serverName = host
		}
		return "passthrough:///" + override, serverName, nil
	case s == nil:
		return "", "", fmt.Errorf("no service")
	case s.Unix != nil:
		return "unix://" + s.Unix.Path, serverName, nil
	case s.IP != nil:
		return "passthrough:///" + net.JoinHostPort(s.IP.Address, strconv.Itoa(int(s.IP.Port))), serverName, nil
	case s.FQDN != nil:
		if serverName == "" {
			serverName = s.FQDN.Hostname
		}
		return "dns:///" + net.JoinHostPort(s.FQDN.Hostname, strconv.Itoa(int(s.FQDN.Port))), serverName, nil
	case s.Host != "":
		port := s.Port
		if port == 0 {
			port = 80
		}
		if serverName == "" {
			serverName = s.Host
		}
		return "dns:///" + net.JoinHostPort(s.Host, strconv.Itoa(int(port))), serverName, nil
	}
	return "", "", fmt.Errorf("service needs one of fqdn, ip, unix or host")
}

// tlsConfig trusts the CA in certificateRef's tls.crt (or ca.crt) and, with
// clientCertificateRef, presents that certificate (mTLS).
func tlsConfig(t *egv1a1.ExtensionTLS, serverName string, opts Options) (*tls.Config, error) {
	if opts.Secret == nil {
		return nil, fmt.Errorf("service.tls: no Secret source to read %s from", t.CertificateRef.Name)
	}
	ca, err := secretData(opts, t.CertificateRef.Namespace, string(t.CertificateRef.Name))
	if err != nil {
		return nil, fmt.Errorf("service.tls.certificateRef: %w", err)
	}
	pem := ca["ca.crt"]
	if len(pem) == 0 {
		pem = ca["tls.crt"]
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("service.tls.certificateRef %s: no PEM certificate in ca.crt or tls.crt", t.CertificateRef.Name)
	}
	tc := &tls.Config{RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12}
	if t.ClientCertificateRef != nil {
		cc, err := secretData(opts, t.ClientCertificateRef.Namespace, string(t.ClientCertificateRef.Name))
		if err != nil {
			return nil, fmt.Errorf("service.tls.clientCertificateRef: %w", err)
		}
		pair, err := tls.X509KeyPair(cc["tls.crt"], cc["tls.key"])
		if err != nil {
			return nil, fmt.Errorf("service.tls.clientCertificateRef %s: %w", t.ClientCertificateRef.Name, err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}

func secretData(opts Options, ns *gwapiv1.Namespace, name string) (map[string][]byte, error) {
	n := opts.SecretNamespace
	if ns != nil && *ns != "" {
		n = string(*ns)
	}
	return opts.Secret(n, name)
}

func retryOf(s *egv1a1.ExtensionService) retryPolicy {
	p := retryPolicy{maxAttempts: 4, initial: 100 * time.Millisecond, max: time.Second, multiplier: 2,
		retryable: map[codes.Code]bool{codes.Unavailable: true}}
	if s == nil || s.Retry == nil {
		return p
	}
	r := s.Retry
	if r.MaxAttempts != nil && *r.MaxAttempts >= 1 {
		p.maxAttempts = *r.MaxAttempts
	}
	if r.InitialBackoff != nil {
		if d, err := time.ParseDuration(string(*r.InitialBackoff)); err == nil {
			p.initial = d
		}
	}
	if r.MaxBackoff != nil {
		if d, err := time.ParseDuration(string(*r.MaxBackoff)); err == nil {
			p.max = d
		}
	}
	if r.BackoffMultiplier != nil {
		den := 100.0
		if r.BackoffMultiplier.Denominator != nil && *r.BackoffMultiplier.Denominator > 0 {
			den = float64(*r.BackoffMultiplier.Denominator)
		}
		if v := float64(r.BackoffMultiplier.Numerator) / den; v >= 1 {
			p.multiplier = v
		}
	}
	if len(r.RetryableStatusCodes) > 0 {
		p.retryable = map[codes.Code]bool{}
		for _, c := range r.RetryableStatusCodes {
			var code codes.Code
			if err := code.UnmarshalJSON([]byte(strconv.Quote(string(c)))); err == nil {
				p.retryable[code] = true
			}
		}
	}
	return p
}

// connect makes the connection once; a failure (e.g. a TLS Secret not
// there yet) is retried on the next call.
func (c *client) connect() (pb.EnvoyGatewayExtensionClient, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.api != nil {
		return c.api, nil
	}
	creds, err := c.creds()
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(c.target, append([]grpc.DialOption{grpc.WithTransportCredentials(creds)}, c.dial...)...)
	if err != nil {
		return nil, err
	}
	c.conn, c.api = conn, pb.NewEnvoyGatewayExtensionClient(conn)
	return c.api, nil
}

func (c *client) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		return c.conn.Close()
	}
	return nil
}

// invoke runs one RPC with the retry policy. Each attempt has its own
// deadline (CallTimeout), so a hung server costs at most maxAttempts x
// CallTimeout plus backoff, never a stalled translation.
func invoke[Req, Resp any](ctx context.Context, c *client, call func(api pb.EnvoyGatewayExtensionClient, ctx context.Context, req Req, opts ...grpc.CallOption) (Resp, error), req Req) (Resp, error) {
	var zero Resp
	api, err := c.connect()
	if err != nil {
		return zero, err
	}
	backoff := c.retry.initial
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, c.timeout)
		resp, err := call(api, actx, req, grpc.WaitForReady(false))
		cancel()
		if err == nil {
			return resp, nil
		}
		code := status.Code(err)
		if attempt >= c.retry.maxAttempts || !c.retry.retryable[code] || ctx.Err() != nil {
			if attempt > 1 {
				return zero, fmt.Errorf("%w (after %d attempts)", err, attempt)
			}
			return zero, err
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return zero, ctx.Err()
		case <-t.C:
		}
		backoff = time.Duration(float64(backoff) * c.retry.multiplier)
		if backoff > c.retry.max {
			backoff = c.retry.max
		}
	}
}
