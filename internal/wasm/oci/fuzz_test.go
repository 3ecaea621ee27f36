package oci

import (
	"bytes"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

// FuzzPluginFromTarGz: any layer gives a module within the limit or an
// error, never a panic or more than the limit.
func FuzzPluginFromTarGz(f *testing.F) {
	f.Add(tarGz(map[string][]byte{"plugin.wasm": []byte("\x00asm\x01\x00\x00\x00")}))
	f.Add(tarGz(map[string][]byte{"a/b/plugin.wasm": bytes.Repeat([]byte{1}, 100)}))
	f.Add(bomb(1 << 16))
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})
	const limit = 4096
	f.Fuzz(func(t *testing.T, layer []byte) {
		b, err := pluginFromTarGz(bytes.NewReader(layer), limit)
		if err == nil && len(b) > limit {
			t.Fatalf("%d bytes past the limit", len(b))
		}
		if err != nil && b != nil {
			t.Fatal("bytes with an error")
		}
	})
}

// FuzzDockerConfig: a pull secret's content never panics the keychain,
// and an error never quotes it.
func FuzzDockerConfig(f *testing.F) {
	f.Add(`{"auths":{"127.0.0.1:5000":{"auth":"dXNlcjpwYXNz"}}}`)
	f.Add(`{"auths":{"r":{"username":"u","password":"p"}}}`)
	f.Add(`{"auths":{"r":{"auth":"%%%"}}}`)
	f.Add(`null`)
	reg, _ := name.NewRegistry("127.0.0.1:5000")
	f.Fuzz(func(t *testing.T, cfg string) {
		_, err := DockerConfig(cfg).Resolve(reg)
		if err != nil && len(cfg) > 12 && bytes.Contains([]byte(err.Error()), []byte(cfg)) {
			t.Fatalf("the error quotes the secret: %v", err)
		}
	})
}
