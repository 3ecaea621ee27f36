package oci

import (
	"errors"
	"fmt"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
)

// RefAnnotation names an image in an OCI layout's index.
const RefAnnotation = "org.opencontainers.image.ref.name"

// SaveToLayout stores img in the OCI layout at dir (created when
// missing) under ref, replacing an image saved under the same ref.
func SaveToLayout(dir, ref string, img v1.Image) error {
	p, err := layout.FromPath(dir)
	if err != nil {
		if _, serr := os.Stat(dir); serr == nil {
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				return fmt.Errorf("%s is not an OCI layout: %w", dir, err)
			}
		}
		if p, err = layout.Write(dir, empty.Index); err != nil {
			return err
		}
	}
	return p.ReplaceImage(img, match.Annotation(RefAnnotation, ref), layout.WithAnnotations(map[string]string{RefAnnotation: ref}))
}

// ErrNotInLayout is returned by FromLayout for a ref it does not hold.
var ErrNotInLayout = errors.New("not in the OCI layout")

// FromLayout returns the image saved under ref in the layout at dir.
func FromLayout(dir, ref string) (v1.Image, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, ErrNotInLayout)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, d := range m.Manifests {
		if d.Annotations[RefAnnotation] == ref {
			return idx.Image(d.Digest)
		}
	}
	return nil, fmt.Errorf("%s: %w %s", ref, ErrNotInLayout, dir)
}
