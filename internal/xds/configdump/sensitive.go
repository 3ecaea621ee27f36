package configdump

import (
	"encoding/base64"
	"sync"

	"github.com/cncf/xds/go/udpa/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Envoy's admin config_dump replaces every string and byte inside a field
// marked [(udpa.annotations.sensitive) = true] with "[redacted]" (basic_auth
// users, OAuth2 and HMAC secrets, private keys, ...), at any depth below it,
// typed_config included. Dumps are pasted into issues and chats; Portico's
// /config_dump and `x translate` do the same, so a secret that reaches xDS
// inline never travels further. (egctl prints them; this is a deliberate
// difference.)
const redactedText = "[redacted]"

var redactedBytes = base64.StdEncoding.EncodeToString([]byte(redactedText))

// sensitiveFields memoises the option lookup per field descriptor: the
// renderer asks for every field of every resource.
var sensitiveFields sync.Map // protoreflect.FieldDescriptor -> bool

func sensitive(fd protoreflect.FieldDescriptor) bool {
	if v, ok := sensitiveFields.Load(fd); ok {
		return v.(bool)
	}
	opts := fd.Options()
	s := opts != nil && proto.HasExtension(opts, annotations.E_Sensitive) &&
		proto.GetExtension(opts, annotations.E_Sensitive).(bool)
	sensitiveFields.Store(fd, s)
	return s
}
