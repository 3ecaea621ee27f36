package oci

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Media types of the Wasm OCI artifact (the solo-io "oci" variant).
const (
	WasmLayerType  types.MediaType = "application/vnd.module.wasm.content.layer.v1+wasm"
	WasmConfigType types.MediaType = "application/vnd.module.wasm.config.v1+json"
)

// PluginFile is the file a Docker or OCI image layer must hold.
const PluginFile = "plugin.wasm"

// Format is how an image packs its module.
type Format string

// The formats Envoy Gateway consumes.
const (
	FormatDocker   Format = "docker"
	FormatOCI      Format = "oci"
	FormatArtifact Format = "artifact"
)

// Formats lists the formats in the order they are tried.
var Formats = []Format{FormatDocker, FormatOCI, FormatArtifact}

// ErrTooLarge marks a layer or module over the size limit: pulling it
// again gets the same bytes.
var ErrTooLarge = errors.New("too large")

// Module downloads the image's layers and returns its module, trying the
// formats in Envoy Gateway's order: a Docker manifest's last layer must be
// a gzipped tar; otherwise a last layer of OCI tar+gzip; otherwise exactly
// two layers, one of them raw Wasm. max bounds every layer, compressed and
// expanded.
func (im *Image) Module(max int64) ([]byte, Format, error) {
	return Extract(im.img, max)
}

// Extract returns the module of img (from a registry or an OCI layout).
func Extract(img v1.Image, max int64) ([]byte, Format, error) {
	mt, err := img.MediaType()
	if err != nil {
		return nil, "", fmt.Errorf("could not retrieve manifest: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, "", fmt.Errorf("could not fetch layers: %w", err)
	}
	if mt == types.DockerManifestSchema2 {
		b, err := fromTarLayer(layers, types.DockerLayer, max)
		if err != nil {
			return nil, "", fmt.Errorf("could not extract Wasm file from the image as Docker container: %w", err)
		}
		return b, FormatDocker, nil
	}
	b, errCompat := fromTarLayer(layers, types.OCILayer, max)
	if errCompat == nil {
		return b, FormatOCI, nil
	}
	if errors.Is(errCompat, ErrTooLarge) {
		return nil, "", errCompat
	}
	b, errArtifact := fromArtifact(layers, max)
	if errArtifact == nil {
		return b, FormatArtifact, nil
	}
	if errors.Is(errArtifact, ErrTooLarge) {
		return nil, "", errArtifact
	}
	return nil, "", fmt.Errorf("the given image is in invalid format as an OCI image: could not parse as compat variant: %v; could not parse as oci variant: %v",
		errCompat, errArtifact)
}

// fromTarLayer reads plugin.wasm from the last layer, a gzipped tar of
// media type want.
func fromTarLayer(layers []v1.Layer, want types.MediaType, max int64) ([]byte, error) {
	if len(layers) == 0 {
		return nil, errors.New("number of layers must be greater than zero")
	}
	layer := layers[len(layers)-1]
	mt, err := layer.MediaType()
	if err != nil {
		return nil, fmt.Errorf("could not get media type: %w", err)
	}
	if mt != want {
		return nil, fmt.Errorf("invalid media type %s (expect %s)", mt, want)
	}
	if err := checkSize(layer, max); err != nil {
		return nil, err
	}
	r, err := layer.Compressed()
	if err != nil {
		return nil, fmt.Errorf("could not get layer content: %w", err)
	}
	defer r.Close()
	b, err := pluginFromTarGz(r, max)
	if err != nil {
		return nil, fmt.Errorf("could not extract wasm binary: %w", err)
	}
	return b, nil
}

// pluginFromTarGz returns the first entry named plugin.wasm (in any
// directory) of a gzipped tar. The expanded stream is bounded by max, so
// a gzip bomb stops at the limit instead of filling memory.
func pluginFromTarGz(r io.Reader, max int64) ([]byte, error) {
	gr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("failed to parse layer as tar.gz: %w", err)
	}
	lr := &limitedReader{r: gr, left: max + 1}
	tr := tar.NewReader(lr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("%s not found in the archive", PluginFile)
		}
		if err != nil {
			if lr.over {
				return nil, fmt.Errorf("the layer expands to more than the limit of %d bytes: %w", max, ErrTooLarge)
			}
			return nil, err
		}
		if path.Base(h.Name) != PluginFile || (h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeRegA) {
			continue
		}
		if h.Size > max {
			return nil, fmt.Errorf("%s is %d bytes, more than the limit of %d bytes: %w", PluginFile, h.Size, max, ErrTooLarge)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			if lr.over {
				return nil, fmt.Errorf("the layer expands to more than the limit of %d bytes: %w", max, ErrTooLarge)
			}
			return nil, fmt.Errorf("failed to read %s: %w", PluginFile, err)
		}
		return b, nil
	}
}

// limitedReader fails once more than left bytes were asked for, and
// remembers it (io.LimitReader would end with a silent EOF).
type limitedReader struct {
	r    io.Reader
	left int64
	over bool
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		l.over = true
		return 0, ErrTooLarge
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// fromArtifact reads the raw Wasm layer of a two-layer artifact.
func fromArtifact(layers []v1.Layer, max int64) ([]byte, error) {
	if len(layers) != 2 {
		return nil, fmt.Errorf("number of layers must be 2 but got %d", len(layers))
	}
	var layer v1.Layer
	for _, l := range layers {
		mt, err := l.MediaType()
		if err != nil {
			return nil, fmt.Errorf("could not retrieve the media type: %w", err)
		}
		if mt == WasmLayerType {
			layer = l
			break
		}
	}
	if layer == nil {
		return nil, fmt.Errorf("could not find the layer of type %s", WasmLayerType)
	}
	if err := checkSize(layer, max); err != nil {
		return nil, err
	}
	// The layer is raw Wasm: read it as stored, never decompressed.
	r, err := layer.Compressed()
	if err != nil {
		return nil, fmt.Errorf("could not get layer content: %w", err)
	}
	defer r.Close()
	lr := &limitedReader{r: r, left: max + 1}
	b, err := io.ReadAll(lr)
	if err != nil {
		if lr.over {
			return nil, fmt.Errorf("the Wasm layer is larger than the limit of %d bytes: %w", max, ErrTooLarge)
		}
		return nil, fmt.Errorf("could not extract wasm binary: %w", err)
	}
	return b, nil
}

// checkSize refuses a layer whose manifest declares more than max bytes,
// before downloading it.
func checkSize(l v1.Layer, max int64) error {
	n, err := l.Size()
	if err != nil {
		return fmt.Errorf("could not get layer size: %w", err)
	}
	if n > max {
		return fmt.Errorf("the layer is %d bytes, more than the limit of %d bytes: %w", n, max, ErrTooLarge)
	}
	return nil
}
