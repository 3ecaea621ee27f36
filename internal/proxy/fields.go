package proxy

import (
	"fmt"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// checkFields is how the proxy keeps its promise never to ignore config
// silently: every field set on msg must be in allowed (fields the proxy
// implements, or that only affect stats/tracing/tuning and so have no
// observable effect on traffic). Anything else NACKs with the field's name.
func checkFields(what string, msg proto.Message, allowed ...string) error {
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
