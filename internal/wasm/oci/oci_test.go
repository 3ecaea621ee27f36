package oci

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/portico-gw/portico/internal/wasm/oci/ocitest"
)

func plugin(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("../testdata/plugin.wasm")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newRegistry is go-containerregistry's in-process registry on loopback.
func newRegistry(t testing.TB) string {
	t.Helper()
	s := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

func push(t testing.TB, ref string, img v1.Image) string {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return d.Hex
}

var tarGz = ocitest.TarGz

// bomb is a gzipped tar whose plugin.wasm expands to size bytes of zeros.
func bomb(size int64) []byte {
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	tw := tar.NewWriter(zw)
	_ = tw.WriteHeader(&tar.Header{Name: "filler", Mode: 0o644, Size: size, Typeflag: tar.TypeReg})
	chunk := make([]byte, 1<<20)
	for left := size; left > 0; left -= int64(len(chunk)) {
		_, _ = tw.Write(chunk[:min(int64(len(chunk)), left)])
	}
	_ = tw.Close()
	_ = zw.Close()
	return gz.Bytes()
}

func imageOf(t testing.TB, mt types.MediaType, layers ...v1.Layer) v1.Image {
	t.Helper()
	img := mutate.MediaType(empty.Image, mt)
	img, err := mutate.AppendLayers(img, layers...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestBuildPullEveryFormat(t *testing.T) {
	mod := plugin(t)
	reg := newRegistry(t)
	c := &Client{}
	for _, f := range Formats {
		img, err := Build(mod, f, RuntimeConfig{ABIVersions: []string{"v0.2.1"}})
		if err != nil {
			t.Fatal(err)
		}
		again, _ := Build(mod, f, RuntimeConfig{ABIVersions: []string{"v0.2.1"}})
		d1, _ := img.Digest()
		d2, _ := again.Digest()
		if d1 != d2 {
			t.Errorf("%s: two builds differ: %s %s", f, d1, d2)
		}
		digest := push(t, reg+"/wasm/"+string(f)+":v1", img)
		im, err := c.Resolve(context.Background(), Prefix+reg+"/wasm/"+string(f)+":v1")
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if im.Digest != digest {
			t.Errorf("%s: digest %s, pushed %s", f, im.Digest, digest)
		}
		got, format, err := im.Module(1 << 20)
		if err != nil || format != f || !bytes.Equal(got, mod) {
			t.Errorf("%s: format %s, %d bytes, %v", f, format, len(got), err)
		}
	}
}

func TestIndexes(t *testing.T) {
	mod := plugin(t)
	reg := newRegistry(t)
	img, _ := Build(mod, FormatOCI, RuntimeConfig{})
	other := imageOf(t, types.OCIManifestSchema1, static.NewLayer(tarGz(map[string][]byte{"x": []byte("x")}), types.OCILayer))
	plat := func(os, arch string) *v1.Platform { return &v1.Platform{OS: os, Architecture: arch} }
	index := func(adds ...mutate.IndexAddendum) v1.ImageIndex {
		return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	}
	write := func(ref string, idx v1.ImageIndex) {
		r, _ := name.ParseReference(ref)
		if err := remote.WriteIndex(r, idx); err != nil {
			t.Fatal(err)
		}
	}
	d, _ := img.Digest()
	write(reg+"/idx:amd64", index(
		mutate.IndexAddendum{Add: other, Descriptor: v1.Descriptor{Platform: plat("linux", "arm64")}},
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: plat("linux", "amd64")}}))
	write(reg+"/idx:only", index(mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: plat("wasip1", "wasm")}}))
	write(reg+"/idx:none", index(
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: plat("linux", "arm64")}},
		mutate.IndexAddendum{Add: other, Descriptor: v1.Descriptor{Platform: plat("linux", "s390x")}}))
	write(reg+"/idx:empty", index())
	c := &Client{}
	for _, tag := range []string{"amd64", "only"} {
		im, err := c.Resolve(context.Background(), reg+"/idx:"+tag)
		if err != nil {
			t.Fatalf("%s: %v", tag, err)
		}
		if im.Digest != d.Hex || im.IndexDigest == "" {
			t.Errorf("%s: digest %s index %s, want %s", tag, im.Digest, im.IndexDigest, d.Hex)
		}
		if b, _, err := im.Module(1 << 20); err != nil || !bytes.Equal(b, mod) {
			t.Errorf("%s: %v", tag, err)
		}
	}
	for tag, want := range map[string]string{
		"none":  "the image index has no linux/amd64 image and 2 image entries, so none can be chosen: application/vnd.oci.image.manifest.v1+json (linux/arm64), application/vnd.oci.image.manifest.v1+json (linux/s390x)",
		"empty": "the image index has no linux/amd64 image and 0 image entries, so none can be chosen: ",
	} {
		if _, err := c.Resolve(context.Background(), reg+"/idx:"+tag); err == nil || err.Error() != want {
			t.Errorf("%s: %v\nwant %s", tag, err, want)
		}
	}
}

func TestBadImages(t *testing.T) {
	mod := plugin(t)
	const limit = 1 << 20
	cases := []struct {
		name string
		img  v1.Image
		want string
		big  bool
	}{
		{"no plugin.wasm", imageOf(t, types.OCIManifestSchema1, static.NewLayer(tarGz(map[string][]byte{"other.wasm": mod}), types.OCILayer)),
			"the given image is in invalid format as an OCI image: could not parse as compat variant: could not extract wasm binary: plugin.wasm not found in the archive; could not parse as oci variant: number of layers must be 2 but got 1", false},
		{"docker without plugin.wasm", imageOf(t, types.DockerManifestSchema2, static.NewLayer(tarGz(map[string][]byte{"a/b": mod}), types.DockerLayer)),
			"could not extract Wasm file from the image as Docker container: could not extract wasm binary: plugin.wasm not found in the archive", false},
		{"two layers of the wrong type", imageOf(t, types.OCIManifestSchema1, static.NewLayer([]byte("{}"), "application/json"), static.NewLayer(mod, "application/octet-stream")),
			"the given image is in invalid format as an OCI image: could not parse as compat variant: invalid media type application/octet-stream (expect application/vnd.oci.image.layer.v1.tar+gzip); could not parse as oci variant: could not find the layer of type application/vnd.module.wasm.content.layer.v1+wasm", false},
		{"no layers", imageOf(t, types.OCIManifestSchema1),
			"the given image is in invalid format as an OCI image: could not parse as compat variant: number of layers must be greater than zero; could not parse as oci variant: number of layers must be 2 but got 0", false},
		{"gzip bomb", imageOf(t, types.OCIManifestSchema1, static.NewLayer(bomb(64<<20), types.OCILayer)),
			"could not extract wasm binary: the layer expands to more than the limit of 1048576 bytes: too large", true},
		{"raw wasm layer over the limit", imageOf(t, types.OCIManifestSchema1, static.NewLayer([]byte("{}"), WasmConfigType), static.NewLayer(make([]byte, limit+1), WasmLayerType)),
			"the layer is 1048577 bytes, more than the limit of 1048576 bytes: too large", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := Extract(c.img, limit)
			if err == nil || err.Error() != c.want {
				t.Fatalf("got %v\nwant %s", err, c.want)
			}
			if errors.Is(err, ErrTooLarge) != c.big {
				t.Errorf("ErrTooLarge: %v", errors.Is(err, ErrTooLarge))
			}
		})
	}
}

func TestReferences(t *testing.T) {
	d := strings.Repeat("ab", 32)
	for _, c := range []struct{ url, module, digest string }{
		{"oci://127.0.0.1:5000/wasm/plugin:v1", "oci://127.0.0.1:5000/wasm/plugin", ""},
		{"127.0.0.1:5000/wasm/plugin@sha256:" + d, "oci://127.0.0.1:5000/wasm/plugin", d},
		{"oci://docker.io/envoyproxy/plugin:latest", "oci://index.docker.io/envoyproxy/plugin", ""},
	} {
		if got := ModuleName(c.url); got != c.module {
			t.Errorf("ModuleName(%s) = %s, want %s", c.url, got, c.module)
		}
		if got := DigestOf(c.url); got != c.digest {
			t.Errorf("DigestOf(%s) = %s, want %s", c.url, got, c.digest)
		}
	}
}

func TestDockerConfigKeychain(t *testing.T) {
	reg, _ := name.NewRegistry("127.0.0.1:5000")
	hub, _ := name.NewRegistry("docker.io")
	cfg := DockerConfig(`{"auths":{"127.0.0.1:5000":{"auth":"dXNlcjpwYXNz"},"https://index.docker.io/v1/":{"username":"hub","password":"p"}}}`)
	for _, c := range []struct {
		r    name.Registry
		user string
	}{{reg, "user"}, {hub, "hub"}} {
		a, err := cfg.Resolve(c.r)
		if err != nil {
			t.Fatal(err)
		}
		ac, _ := a.Authorization()
		if ac.Username != c.user {
			t.Errorf("%s: user %q", c.r, ac.Username)
		}
	}
	other, _ := name.NewRegistry("registry.example.com")
	if a, _ := cfg.Resolve(other); a != nil {
		if ac, _ := a.Authorization(); ac.Username != "" {
			t.Errorf("another registry got credentials")
		}
	}
	for _, bad := range []string{"", "null", `{"auths":`, `{"auths":{"127.0.0.1:5000":{"auth":"!!"}}}`} {
		err := DockerConfig(bad).Validate()
		if bad == `{"auths":{"127.0.0.1:5000":{"auth":"!!"}}}` {
			if _, err = DockerConfig(bad).Resolve(reg); err == nil {
				t.Errorf("%q: no error", bad)
			}
			continue
		}
		if err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
