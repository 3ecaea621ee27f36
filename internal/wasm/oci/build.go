package oci

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// RuntimeConfig is the artifact format's config (the Wasm image spec's
// envoy_proxy runtime config).
type RuntimeConfig struct {
	Type        string       `json:"type"`
	ABIVersions []string     `json:"abiVersions,omitempty"`
	Config      RuntimeRoots `json:"config"`
}

// RuntimeRoots lists the root IDs a module registers.
type RuntimeRoots struct {
	RootIDs []string `json:"root_ids,omitempty"`
}

// Build packs module as a one-module image of the given format, the way
// the guide's recipes do: Docker and OCI images have one layer, a gzipped
// tar with plugin.wasm at its root; the artifact has the runtime config
// and the raw module as its two layers. The result depends on its input
// only (no timestamps), so building twice gives the same digest.
func Build(module []byte, format Format, rc RuntimeConfig) (v1.Image, error) {
	switch format {
	case FormatDocker:
		return tarImage(module, types.DockerManifestSchema2, types.DockerConfigJSON, types.DockerLayer)
	case FormatOCI:
		return tarImage(module, types.OCIManifestSchema1, types.OCIConfigJSON, types.OCILayer)
	case FormatArtifact:
		return artifactImage(module, rc)
	}
	return nil, fmt.Errorf("unknown format %q: use docker, oci or artifact", format)
}

func tarImage(module []byte, mt, configType, layerType types.MediaType) (v1.Image, error) {
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	hdr := &tar.Header{Name: PluginFile, Mode: 0o644, Size: int64(len(module)), Typeflag: tar.TypeReg,
		ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	if _, err := tw.Write(module); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(tb.Bytes()); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	diffID := sha256.Sum256(tb.Bytes())
	cfg := v1.ConfigFile{Architecture: "amd64", OS: "linux",
		RootFS: v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{{Algorithm: "sha256", Hex: hex.EncodeToString(diffID[:])}}}}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	return assemble(mt, static.NewLayer(raw, configType), static.NewLayer(gz.Bytes(), layerType))
}

func artifactImage(module []byte, rc RuntimeConfig) (v1.Image, error) {
	rc.Type = "envoy_proxy"
	raw, err := json.Marshal(rc)
	if err != nil {
		return nil, err
	}
	config := static.NewLayer(raw, WasmConfigType)
	return assemble(types.OCIManifestSchema1, config, config, static.NewLayer(module, WasmLayerType))
}

// built is an image assembled from blobs in memory.
type built struct {
	mt       types.MediaType
	config   []byte
	manifest []byte
	blobs    map[v1.Hash]v1.Layer
}

func assemble(mt types.MediaType, config v1.Layer, layers ...v1.Layer) (v1.Image, error) {
	b := &built{mt: mt, blobs: map[v1.Hash]v1.Layer{}}
	cd, err := partial.Descriptor(config)
	if err != nil {
		return nil, err
	}
	rc, err := config.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(rc); err != nil {
		return nil, err
	}
	b.config = buf.Bytes()
	m := v1.Manifest{SchemaVersion: 2, MediaType: mt, Config: *cd}
	for _, l := range layers {
		d, err := partial.Descriptor(l)
		if err != nil {
			return nil, err
		}
		m.Layers = append(m.Layers, *d)
		b.blobs[d.Digest] = l
	}
	if b.manifest, err = json.Marshal(m); err != nil {
		return nil, err
	}
	return partial.CompressedToImage(b)
}

func (b *built) RawConfigFile() ([]byte, error)      { return b.config, nil }
func (b *built) MediaType() (types.MediaType, error) { return b.mt, nil }
func (b *built) RawManifest() ([]byte, error)        { return b.manifest, nil }

func (b *built) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if l, ok := b.blobs[h]; ok {
		return l, nil
	}
	return nil, fmt.Errorf("blob %s is not part of the image", h)
}
