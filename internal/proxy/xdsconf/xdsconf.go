// Package xdsconf holds what every compiler of xDS resources in the
// built-in proxy shares: the check that refuses fields the proxy does not
// implement, data sources (inline or file) and config sources (which must
// mean "this ADS stream").
package xdsconf

import (
	"fmt"
	"os"
	"sort"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// CheckFields is how the proxy keeps its promise never to ignore config
// silently: every field set on msg must be in allowed (fields the proxy
// implements, or that only affect stats/tracing/tuning and so have no
// observable effect on traffic). Anything else NACKs with the field's name.
func CheckFields(what string, msg proto.Message, allowed ...string) error {
	ok := make(map[string]bool, len(allowed))
	for _, a := range allowed {
		ok[a] = true
	}
	var bad []string
	msg.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		if !ok[string(fd.Name())] {
			bad = append(bad, string(fd.Name()))
		}
		return true
	})
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	return fmt.Errorf("%s: unsupported field(s) %s", what, strings.Join(bad, ", "))
}

// ReadDataSource reads an inline or file DataSource (direct responses,
// local reply bodies, TLS material, log formats).
func ReadDataSource(d *corev3.DataSource) (string, error) {
	switch s := d.GetSpecifier().(type) {
	case *corev3.DataSource_InlineString:
		return s.InlineString, nil
	case *corev3.DataSource_InlineBytes:
		return string(s.InlineBytes), nil
	case *corev3.DataSource_Filename:
		b, err := os.ReadFile(s.Filename)
		if err != nil {
			return "", fmt.Errorf("data source: %v", err)
		}
		return string(b), nil
	case nil:
		return "", nil
	default:
		return "", fmt.Errorf("unsupported data source %T", s)
	}
}

// CheckADSSource accepts only config sources that mean "this ADS stream".
func CheckADSSource(cs *corev3.ConfigSource) error {
	if cs == nil {
		return fmt.Errorf("missing config source")
	}
	switch cs.GetConfigSourceSpecifier().(type) {
	case *corev3.ConfigSource_Ads, *corev3.ConfigSource_Self:
		return nil
	}
	return fmt.Errorf("only ads config sources are supported, got %T", cs.GetConfigSourceSpecifier())
}
