package resource

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	sigsjson "sigs.k8s.io/json"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
)

// LoadConfig reads the control plane's EnvoyGateway configuration file (Envoy Gateway's
// envoy-gateway.yaml, apiVersion gateway.envoyproxy.io/v1alpha1, kind EnvoyGateway)
// strictly: unknown or mistyped fields are errors, all reported at once as Problems.
// Defaults applied: gateway.controllerName = gateway.envoyproxy.io/gatewayclass-controller.
//
// The EnvoyGateway type has no CRD (it is a file, not a served resource), so it is
// checked by strict decoding into the Go type rather than by a schema.
func LoadConfig(path string) (*egv1a1.EnvoyGateway, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseConfig(path, data)
}

// ParseConfig is LoadConfig on bytes already read; file names them in problems.
func ParseConfig(file string, data []byte) (*egv1a1.EnvoyGateway, error) {
	docs := splitDocuments(data)
	eg := &egv1a1.EnvoyGateway{}
	if len(docs) == 0 {
		eg.APIVersion, eg.Kind = egv1a1.GroupVersion.String(), "EnvoyGateway"
		SetConfigDefaults(eg)
		return eg, nil
	}
	fail := func(line int, path, msg string) error {
		return Problems{{File: file, Doc: 1, Line: line, Kind: "EnvoyGateway", Path: path, Message: msg}}
	}
	if len(docs) > 1 {
		return nil, fail(docs[1].firstLine, "", "expected one document, found "+strconv.Itoa(len(docs)))
	}
	d := docs[0]
	var root yaml.Node
	if err := yaml.Unmarshal(d.data, &root); err != nil {
		line := d.firstLine
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if m := yamlLineRe.FindStringSubmatch(err.Error()); m != nil {
			n, _ := strconv.Atoi(m[1])
			line, msg = d.firstLine+n-1, m[2]
		}
		return nil, fail(line, "", "invalid YAML: "+msg)
	}
	conv := &converter{lineBase: d.firstLine - 1}
	v, err := conv.convert(&root, nil, 0)
	if err != nil {
		return nil, fail(d.firstLine, "", "invalid YAML: "+err.Error())
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fail(d.firstLine, "", "expected an EnvoyGateway object, got "+typeName(v))
	}
	var probs Problems
	add := func(fp fieldProblem) {
		probs = append(probs, Problem{File: file, Doc: 1, Line: lineOf(&root, fp.path, d.firstLine-1),
			Kind: "EnvoyGateway", Path: renderPath(fp.path), Message: fp.msg})
	}
	for _, dk := range conv.dupKeys {
		add(fieldProblem{path: dk.path, msg: dk.msg})
	}
	if av, _ := m["apiVersion"].(string); av != egv1a1.GroupVersion.String() {
		add(fieldProblem{path: []pathElem{fieldElem("apiVersion")},
			msg: "Unsupported value: " + strconv.Quote(av) + `: supported values: "` + egv1a1.GroupVersion.String() + `"`})
	}
	if k, _ := m["kind"].(string); k != "EnvoyGateway" {
		add(fieldProblem{path: []pathElem{fieldElem("kind")},
			msg: "Unsupported value: " + strconv.Quote(k) + `: supported values: "EnvoyGateway"`})
	}
	js, err := json.Marshal(m)
	if err != nil {
		return nil, fail(d.firstLine, "", err.Error())
	}
	strictErrs, err := sigsjson.UnmarshalStrict(js, eg)
	for _, se := range strictErrs {
		add(strictProblem(se, "", "EnvoyGateway"))
	}
	if err != nil {
		add(decodeProblem(err, "", "EnvoyGateway"))
	}
	if len(probs) > 0 {
		return nil, probs
	}
	SetConfigDefaults(eg)
	return eg, nil
}

// SetConfigDefaults fills in what Envoy Gateway defaults in its configuration and the
// rest of Portico relies on being set.
func SetConfigDefaults(eg *egv1a1.EnvoyGateway) {
	if eg.Gateway == nil {
		eg.Gateway = &egv1a1.Gateway{}
	}
	if eg.Gateway.ControllerName == "" {
		eg.Gateway.ControllerName = egv1a1.DefaultControllerName
	}
}
