package resource

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpusProblems lists the genuine problems in Envoy Gateway's test inputs: things the
// Kubernetes API server would reject, which egctl (which does not validate) accepts.
var corpusProblems = map[string][]string{
	// Names with capitals: Services must be DNS-1035 labels, EndpointSlices DNS-1123
	// subdomains. A cluster refuses both objects.
	"default-resources.yaml": {
		`default-resources.yaml#8 Service default/providedBackend: metadata.name: Invalid value: "providedBackend": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?') (line 146)`,
		`default-resources.yaml#9 EndpointSlice default/endpointslice-providedBackend: metadata.name: Invalid value: "endpointslice-providedBackend": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*') (line 165)`,
	},
	// Two HTTPRoutes named default/backend (one per Gateway): a cluster keeps one.
	"multiple-xds.yaml": {
		`multiple-xds.yaml#7 HTTPRoute default/backend: metadata.name: Duplicate value: HTTPRoute default/backend is already defined at multiple-xds.yaml#5; the first definition is kept (line 81)`,
	},
}

func TestCorpus(t *testing.T) {
	files, _ := filepath.Glob("/work/shared/corpus/egctl-translate/in/*.yaml")
	more, _ := filepath.Glob("/work/shared/corpus/e2e-manifests/*.yaml")
	files = append(files, more...)
	if len(files) == 0 {
		t.Skip("corpus not available")
	}
	for _, f := range files {
		base := filepath.Base(f)
		t.Run(filepath.Base(filepath.Dir(f))+"/"+base, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			set, probs := LoadBytes(base, data)
			var got []string
			for _, p := range probs {
				got = append(got, p.String())
			}
			want := corpusProblems[base]
			if strings.Contains(f, "e2e-manifests") {
				want = nil
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			docs := len(splitDocuments(data))
			if set.Len()+len(probs) > docs {
				t.Errorf("%d objects + %d problems from %d documents", set.Len(), len(probs), docs)
			}
		})
	}
}
