package gatewayapi

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
)

const (
	imageDigest = "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2"
	dockerCfg   = `{"auths":{"reg.local:5000":{"auth":"dXNlcjpwYXNz"}}}`
)

func imageWasm(url, extra string) string {
	return "  - name: wasm-filter\n    rootID: my_root_id\n    code:\n      type: Image\n      image:\n        url: " + url + "\n" + extra
}

func pullSecretYAML(ns, name, key, value string) string {
	return fmt.Sprintf("---\napiVersion: v1\nkind: Secret\nmetadata: {name: %s, namespace: %s}\ntype: kubernetes.io/dockerconfigjson\ndata: {%q: %s}\n",
		name, ns, key, base64.StdEncoding.EncodeToString([]byte(value)))
}

// recordModules serves every image code and records what was asked.
type recordModules struct{ asked []WasmCode }

func (m *recordModules) WasmModule(c WasmCode) (WasmModule, error) {
	m.asked = append(m.asked, c)
	if !c.Image {
		return WasmModule{}, errors.New("not an image")
	}
	return WasmModule{ServingURL: "http://127.0.0.1:18002/m.wasm", SHA256: wasmSHA}, nil
}

// Image code as Envoy Gateway completes it: oci:// and :latest added, a
// registry port is not a tag, sha256 (or an @sha256: URL) is the manifest
// digest to expect, and pullPolicy Always (or unset on :latest without a
// checksum) pulls again when the policy changes.
func TestWasmImageCode(t *testing.T) {
	cases := []struct {
		name, url, extra string
		want             WasmCode
	}{
		{"tag", "reg.local:5000/wasm/plugin:v1", "", WasmCode{URL: "oci://reg.local:5000/wasm/plugin:v1", Image: true}},
		{"no tag", "oci://reg.local:5000/wasm/plugin", "", WasmCode{URL: "oci://reg.local:5000/wasm/plugin:latest", Image: true, PullVersion: "0"}},
		{"no tag no port", "reg.local/plugin", "", WasmCode{URL: "oci://reg.local/plugin:latest", Image: true, PullVersion: "0"}},
		{"latest with sha256", "reg.local/plugin:latest", "        sha256: " + imageDigest + "\n",
			WasmCode{URL: "oci://reg.local/plugin:latest", SHA256: imageDigest, Image: true}},
		{"digest", "reg.local/plugin@sha256:" + imageDigest, "", WasmCode{URL: "oci://reg.local/plugin@sha256:" + imageDigest, SHA256: imageDigest, Image: true}},
		{"always", "reg.local/plugin:v1", "      pullPolicy: Always\n", WasmCode{URL: "oci://reg.local/plugin:v1", Image: true, PullVersion: "0"}},
		{"latest if not present", "reg.local/plugin", "      pullPolicy: IfNotPresent\n", WasmCode{URL: "oci://reg.local/plugin:latest", Image: true}},
		{"pull secret", "reg.local:5000/plugin:v1", "        pullSecretRef: {name: creds}\n",
			WasmCode{URL: "oci://reg.local:5000/plugin:v1", Image: true, PullSecret: dockerCfg}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := &recordModules{}
			r := luaTranslate(t, wasmPolicyYAML("img", routeTarget("backend"), imageWasm(c.url, c.extra))+
				pullSecretYAML("default", "creds", ".dockerconfigjson", dockerCfg), Options{Wasm: m})
			if cond := accepted(t, r, "img"); cond.Status != "True" {
				t.Fatalf("%+v", cond)
			}
			if len(m.asked) != 1 || m.asked[0] != c.want {
				t.Fatalf("asked %#v, want %#v", m.asked, c.want)
			}
			w := irRoutes(r)[backendRoute].EnvoyExtensions.Wasms[0]
			if w.Code.OriginalURL != c.want.URL || w.Code.SHA256 != wasmSHA || w.Code.ServingURL != "http://127.0.0.1:18002/m.wasm" {
				t.Errorf("IR code %+v", w.Code)
			}
		})
	}
}

// Pull secret references: each mistake is its policy's status with Envoy
// Gateway's message, its route answers 500, and the secret's content never
// shows.
func TestWasmImagePullSecretErrors(t *testing.T) {
	grant := "---\napiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\nmetadata: {name: g, namespace: vault}\n" +
		"spec:\n  from: [{group: gateway.envoyproxy.io, kind: EnvoyExtensionPolicy, namespace: default}]\n  to: [{group: '', kind: Secret, name: shared}]\n"
	extra := pullSecretYAML("default", "nokey", "config.json", dockerCfg) + pullSecretYAML("vault", "shared", ".dockerconfigjson", dockerCfg) +
		pullSecretYAML("vault", "closed", ".dockerconfigjson", dockerCfg) + grant
	cases := []struct{ ref, want string }{
		{"{name: missing}", "Wasm: Secret default/missing does not exist."},
		{"{name: nokey}", "Wasm: Missing .dockerconfigjson key in secret default/nokey."},
		{"{name: closed, namespace: vault}", "Wasm: Secret ref to vault/closed not permitted by any ReferenceGrant."},
		{"{name: creds, kind: ConfigMap}", "Wasm: PullSecretRef: only support Secret kind."},
		{"{name: shared, namespace: vault}", ""},
	}
	for _, c := range cases {
		t.Run(c.ref, func(t *testing.T) {
			m := &recordModules{}
			r := luaTranslate(t, wasmPolicyYAML("img", routeTarget("backend"), imageWasm("reg.local:5000/plugin:v1", "        pullSecretRef: "+c.ref+"\n"))+
				wasmPolicyYAML("ok", routeTarget("other"), imageWasm("reg.local:5000/plugin:v1", ""))+extra, Options{Wasm: m})
			cond := accepted(t, r, "img")
			rs := irRoutes(r)
			if c.want == "" {
				if cond.Status != "True" || len(m.asked) != 2 || m.asked[0].PullSecret != dockerCfg {
					t.Fatalf("%+v %#v", cond, m.asked)
				}
				return
			}
			if cond.Status != "False" || cond.Message != c.want {
				t.Fatalf("%+v\nwant %s", cond, c.want)
			}
			if strings.Contains(cond.Message, "dXNlcjpwYXNz") {
				t.Error("the secret's content is in the status")
			}
			if d := rs[backendRoute].DirectResponse; d == nil || d.StatusCode != 500 {
				t.Errorf("route of the policy: %+v", rs[backendRoute])
			}
			if rs[otherRoute].DirectResponse != nil || wasmNames(rs[otherRoute]) == "" {
				t.Errorf("another policy's route must keep its plugin: %+v", rs[otherRoute])
			}
		})
	}
}

// A code printed by mistake never shows its pull secret.
func TestWasmCodeStringHidesSecret(t *testing.T) {
	c := WasmCode{URL: "oci://r/p:v1", Image: true, PullSecret: dockerCfg}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c), fmt.Sprint([]WasmCode{c})} {
		if strings.Contains(s, "dXNlcjpwYXNz") || !strings.Contains(s, "oci://r/p:v1") {
			t.Errorf("%q", s)
		}
	}
}
