package resource

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"

	yaml "go.yaml.in/yaml/v3"

	crdfs "github.com/portico-gw/portico/config/crd"
)

// crd is one CustomResourceDefinition, compiled on first use. Compiling the HTTPRoute
// CRD (8,500 lines of YAML) costs tens of milliseconds, so a run that only sees
// Gateways never pays for it.
type crd struct {
	source string
	group  string
	kind   string
	data   []byte

	once       sync.Once
	err        error
	namespaced bool
	versions   map[string]*schema // served versions only
	served     []string           // sorted, for messages
}

// registry maps group/kind to CRDs.
type registry struct {
	byGK map[string]*crd
}

func gkKey(group, kind string) string { return group + "/" + kind }

func (r *registry) lookup(group, kind string) *crd {
	if r == nil {
		return nil
	}
	return r.byGK[gkKey(group, kind)]
}

// add indexes a YAML stream of CRDs. Only group and kind are read now, from the
// controller-gen layout when possible (a header scan), otherwise by parsing.
func (r *registry) add(source string, data []byte) error {
	for i, d := range splitDocuments(data) {
		group, kind := scanCRDHeader(d.data)
		if group == "" || kind == "" {
			var hdr struct {
				Kind string `yaml:"kind"`
				Spec struct {
					Group string `yaml:"group"`
					Names struct {
						Kind string `yaml:"kind"`
					} `yaml:"names"`
				} `yaml:"spec"`
			}
			if err := yaml.Unmarshal(d.data, &hdr); err != nil {
				return fmt.Errorf("%s#%d: %w", source, i+1, err)
			}
			if hdr.Kind != "CustomResourceDefinition" {
				continue
			}
			group, kind = hdr.Spec.Group, hdr.Spec.Names.Kind
		}
		if r.byGK == nil {
			r.byGK = map[string]*crd{}
		}
		r.byGK[gkKey(group, kind)] = &crd{source: fmt.Sprintf("%s#%d", source, i+1), group: group, kind: kind, data: d.data}
	}
	return nil
}

// scanCRDHeader reads spec.group and spec.names.kind from controller-gen output without
// parsing the whole document. Anything unexpected returns "" and the caller parses.
func scanCRDHeader(data []byte) (group, kind string) {
	if !bytes.Contains(data, []byte("kind: CustomResourceDefinition")) {
		return "", ""
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	inNames := false
	for n := 0; sc.Scan() && n < 200; n++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "  group: "):
			group = strings.TrimSpace(strings.TrimPrefix(line, "  group: "))
		case line == "  names:":
			inNames = true
		case inNames && strings.HasPrefix(line, "    kind: "):
			kind = strings.TrimSpace(strings.TrimPrefix(line, "    kind: "))
			inNames = false
		case inNames && !strings.HasPrefix(line, "    "):
			inNames = false
		}
		if group != "" && kind != "" {
			return group, kind
		}
	}
	return "", ""
}

// load compiles every served version's schema.
func (c *crd) load() error {
	c.once.Do(func() { c.err = c.compile() })
	return c.err
}

func (c *crd) compile() error {
	var doc map[string]any
	if err := yaml.Unmarshal(stripDescriptions(c.data), &doc); err != nil {
		return fmt.Errorf("CRD %s: %w", c.source, err)
	}
	spec, _ := doc["spec"].(map[string]any)
	c.namespaced = spec["scope"] != "Cluster"
	versions, _ := spec["versions"].([]any)
	c.versions = map[string]*schema{}
	comp := &compiler{}
	for _, v := range versions {
		vm, _ := v.(map[string]any)
		name, _ := vm["name"].(string)
		if served, _ := vm["served"].(bool); !served || name == "" {
			continue
		}
		sm, _ := vm["schema"].(map[string]any)
		root, _ := sm["openAPIV3Schema"].(map[string]any)
		if root == nil {
			root = map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}
		}
		s, err := comp.compile(root)
		if err != nil {
			return fmt.Errorf("CRD %s version %s: %w", c.source, name, err)
		}
		// metadata is checked by validateMeta (the CRD schema only says "type: object");
		// status is dropped before validation, as the API server does on create.
		if s.props == nil {
			s.props = map[string]*schema{}
		}
		s.props["metadata"] = &schema{typ: "object", addAny: true, minLen: -1, maxLen: -1,
			minItems: -1, maxItems: -1, minProps: -1, maxProps: -1}
		c.versions[name] = s
		c.served = append(c.served, name)
	}
	sort.Strings(c.served)
	return nil
}

var (
	builtinOnce sync.Once
	builtinReg  *registry
	builtinErr  error
)

// builtinCRDs indexes the CRDs embedded from config/crd (Gateway API and Portico's own).
func builtinCRDs() (*registry, error) {
	builtinOnce.Do(func() {
		builtinReg = &registry{}
		builtinErr = fs.WalkDir(crdfs.FS, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || (path.Ext(p) != ".yaml" && path.Ext(p) != ".yml") {
				return err
			}
			data, err := fs.ReadFile(crdfs.FS, p)
			if err != nil {
				return err
			}
			return builtinReg.add("config/crd/"+p, data)
		})
	})
	return builtinReg, builtinErr
}
