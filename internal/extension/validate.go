package extension

import (
	"fmt"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
)

// maxAnyDepth bounds Any-inside-Any nesting (a hostile answer cannot make
// validation recurse without end).
const maxAnyDepth = 8

// validate checks an answer as a proxy would before accepting it: the
// message's own rules (protoc-gen-validate), then every google.protobuf.Any
// inside it (typed_config, typed_per_filter_config, ...) whose type is
// linked into this binary must decode and pass its own rules. Types this
// binary does not know are left to the proxy, which may know them.
func validate(m proto.Message, what string) error {
	if err := validateMsg(m.ProtoReflect(), 0); err != nil {
		return fmt.Errorf("the extension server returned an invalid %s: %w", what, err)
	}
	return nil
}

func validateMsg(m protoreflect.Message, depth int) error {
	if v, ok := m.Interface().(validator); ok {
		if err := v.ValidateAll(); err != nil {
			return err
		}
	}
	return walkForAny(m, depth)
}

// validateValue walks a nested message, opening Any values.
func validateValue(m protoreflect.Message, depth int) error {
	a, ok := m.Interface().(*anypb.Any)
	if !ok {
		// Nested messages carry no own rules of interest beyond the
		// parent's ValidateAll (which already recursed); only Anys hide
		// content from it.
		return walkForAny(m, depth)
	}
	if depth >= maxAnyDepth {
		return fmt.Errorf("google.protobuf.Any nested deeper than %d", maxAnyDepth)
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByURL(a.GetTypeUrl())
	if err != nil {
		return nil // unknown here; the proxy decides
	}
	inner := mt.New()
	if err := proto.Unmarshal(a.GetValue(), inner.Interface()); err != nil {
		return fmt.Errorf("%s: %w", a.GetTypeUrl(), err)
	}
	if err := validateMsg(inner, depth+1); err != nil {
		return fmt.Errorf("%s: %w", a.GetTypeUrl(), err)
	}
	return nil
}

// mayHoldAny caches, per message type, whether an Any can appear anywhere
// below it; the walk skips the rest (route metadata Structs, for instance,
// are large and never hold one).
var mayHoldAny sync.Map // protoreflect.FullName -> bool

func holdsAny(md protoreflect.MessageDescriptor) bool {
	if v, ok := mayHoldAny.Load(md.FullName()); ok {
		return v.(bool)
	}
	seen := map[protoreflect.FullName]bool{}
	var visit func(md protoreflect.MessageDescriptor) bool
	visit = func(md protoreflect.MessageDescriptor) bool {
		if md.FullName() == "google.protobuf.Any" {
			return true
		}
		if seen[md.FullName()] {
			return false // a cycle: the first visit decides
		}
		seen[md.FullName()] = true
		fs := md.Fields()
		for i := 0; i < fs.Len(); i++ {
			fd := fs.Get(i)
			if fd.IsMap() {
				fd = fd.MapValue()
			}
			if fd.Message() != nil && visit(fd.Message()) {
				return true
			}
		}
		return false
	}
	r := visit(md)
	mayHoldAny.Store(md.FullName(), r)
	return r
}

// walkForAny looks for Any values below a message without re-running
// validation rules.
func walkForAny(m protoreflect.Message, depth int) error {
	if !holdsAny(m.Descriptor()) {
		return nil
	}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind {
			return true
		}
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len() && err == nil; i++ {
				err = validateValue(l.Get(i).Message(), depth)
			}
		case fd.IsMap():
			if fd.MapValue().Kind() == protoreflect.MessageKind {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					err = validateValue(mv.Message(), depth)
					return err == nil
				})
			}
		default:
			err = validateValue(v.Message(), depth)
		}
		if err != nil {
			err = fmt.Errorf("%s: %w", fd.Name(), err)
		}
		return err == nil
	})
	return err
}
