package configdump

import (
	"encoding/json"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	basicauthv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/basic_auth/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// redactCopy is an independent statement of Envoy's rule (a mutation of a
// copy, where the renderer redacts while walking): every string and byte
// field at or below a sensitive field becomes "[redacted]", Any payloads
// included.
func redactCopy(t *testing.T, m proto.Message) proto.Message {
	t.Helper()
	c := proto.Clone(m)
	redactMessage(t, c.ProtoReflect(), false)
	return c
}

func redactMessage(t *testing.T, m protoreflect.Message, under bool) {
	if a, ok := m.Interface().(*anypb.Any); ok {
		inner, err := a.UnmarshalNew()
		if err != nil {
			return // an unknown type renders as is either way
		}
		redactMessage(t, inner.ProtoReflect(), under)
		if err := a.MarshalFrom(inner); err != nil {
			t.Fatal(err)
		}
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		s := under || sensitive(fd)
		redactOne := func(v protoreflect.Value) protoreflect.Value {
			switch fd.Kind() {
			case protoreflect.MessageKind, protoreflect.GroupKind:
				redactMessage(t, v.Message(), s)
			case protoreflect.StringKind:
				if s {
					return protoreflect.ValueOfString("[redacted]")
				}
			case protoreflect.BytesKind:
				if s {
					return protoreflect.ValueOfBytes([]byte("[redacted]"))
				}
			}
			return v
		}
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				l.Set(i, redactOne(l.Get(i)))
			}
		case fd.IsMap():
			mp := v.Map()
			mp.Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				if fd.MapValue().Kind() == protoreflect.MessageKind {
					redactMessage(t, mv.Message(), s)
				} else if s && fd.MapValue().Kind() == protoreflect.StringKind {
					mp.Set(k, protoreflect.ValueOfString("[redacted]"))
				}
				return true
			})
		default:
			m.Set(fd, redactOne(v))
		}
		return true
	})
}

// TestSensitiveFieldsAreRedacted: htpasswd users inside a listener's
// basic_auth filter (two Anys deep) and a private key given by file name
// never reach the rendered dump; the fields next to them do.
func TestSensitiveFieldsAreRedacted(t *testing.T) {
	users := "alice:{SHA}secrethash="
	ba := mustAny(t, &basicauthv3.BasicAuth{Users: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: users}}})
	hcm := mustAny(t, &hcmv3.HttpConnectionManager{StatPrefix: "http-10080",
		HttpFilters: []*hcmv3.HttpFilter{{Name: "envoy.filters.http.basic_auth/x", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: ba}}}})
	l := &listenerv3.Listener{Name: "default/eg/http", DefaultFilterChain: &listenerv3.FilterChain{
		Filters: []*listenerv3.Filter{{Name: "envoy.filters.network.http_connection_manager", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: hcm}}}}}
	cert := &tlsv3.TlsCertificate{
		CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: "/certs/tls.crt"}},
		PrivateKey:       &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: "/certs/tls.key"}},
	}
	for name, m := range map[string]proto.Message{"listener": l, "certificate": cert} {
		g, err := newRenderer().toGeneric(mustAny(t, m).ProtoReflect())
		if err != nil {
			t.Fatal(err)
		}
		out, _ := json.Marshal(g)
		for _, secret := range []string{users, "secrethash", "/certs/tls.key"} {
			if strings.Contains(string(out), secret) {
				t.Errorf("%s: %q is in the dump: %s", name, secret, out)
			}
		}
		for _, kept := range []string{"[redacted]"} {
			if !strings.Contains(string(out), kept) {
				t.Errorf("%s: %q missing: %s", name, kept, out)
			}
		}
		check(t, name, mustAny(t, m))
	}
	g, _ := newRenderer().toGeneric(mustAny(t, cert).ProtoReflect())
	if out, _ := json.Marshal(g); !strings.Contains(string(out), "/certs/tls.crt") {
		t.Errorf("the certificate chain (not sensitive) must stay: %s", out)
	}
	g, _ = newRenderer().toGeneric(mustAny(t, l).ProtoReflect())
	if out, _ := json.Marshal(g); !strings.Contains(string(out), "http-10080") {
		t.Errorf("the HCM's stat prefix (not sensitive) must stay: %s", out)
	}
}
