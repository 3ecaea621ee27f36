package certgen_test

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/portico-gw/portico/internal/certs"
	"github.com/portico-gw/portico/internal/kubeserver/certgen"
	"github.com/portico-gw/portico/internal/kubetest"
)

func TestCertgen(t *testing.T) {
	e := kubetest.Start(t)
	ctx := context.Background()
	e.Namespace(t, "certgen")
	o := certgen.Options{Namespace: "certgen"}
	made, err := certgen.Run(ctx, e.Client, o)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(made, []string{"envoy-gateway", "envoy", "envoy-oidc-hmac"}) {
		t.Fatalf("made %v", made)
	}
	get := func(name string) *corev1.Secret {
		var s corev1.Secret
		if err := e.Client.Get(ctx, types.NamespacedName{Namespace: "certgen", Name: name}, &s); err != nil {
			t.Fatal(err)
		}
		return &s
	}
	cp, px := get("envoy-gateway"), get("envoy")
	if cp.Type != corev1.SecretTypeTLS || !bytes.Equal(cp.Data["ca.crt"], px.Data["ca.crt"]) {
		t.Fatal("the two TLS Secrets do not share their CA")
	}
	parsed, err := certs.Bundle{CA: cp.Data["ca.crt"], Cert: cp.Data["tls.crt"], Key: cp.Data["tls.key"]}.Parse(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(parsed.Pair.Leaf.DNSNames, "envoy-gateway.certgen.svc.cluster.local") {
		t.Errorf("control plane names %v", parsed.Pair.Leaf.DNSNames)
	}
	if len(get("envoy-oidc-hmac").Data["hmac-secret"]) != 32 {
		t.Error("hmac-secret is not 32 bytes")
	}

	// A second run (a Helm upgrade) keeps them.
	if made, err := certgen.Run(ctx, e.Client, o); err != nil || len(made) != 0 {
		t.Fatalf("second run made %v, %v", made, err)
	}
	if !bytes.Equal(get("envoy").Data["tls.crt"], px.Data["tls.crt"]) {
		t.Fatal("the proxies' certificate changed")
	}
	// One TLS Secret gone: both are made again, on one CA.
	if err := e.Client.Delete(ctx, px); err != nil {
		t.Fatal(err)
	}
	if made, err := certgen.Run(ctx, e.Client, o); err != nil || !slices.Equal(made, []string{"envoy-gateway", "envoy"}) {
		t.Fatalf("after a deletion made %v, %v", made, err)
	}
	if !bytes.Equal(get("envoy-gateway").Data["ca.crt"], get("envoy").Data["ca.crt"]) {
		t.Fatal("the CA differs after regeneration")
	}
}
