package configdump

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"

	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// renderer turns messages into generic values. Resources it packs into the
// admin dump's Any fields are remembered, so rendering them needs no
// marshalling.
type renderer struct {
	originals map[*anypb.Any]proto.Message
	// redacting counts the sensitive fields being rendered around the
	// current value (see sensitive).
	redacting int
}

func newRenderer() *renderer { return &renderer{originals: map[*anypb.Any]proto.Message{}} }

// pack wraps m in an Any that only this renderer can read: it carries the
// type URL, and the message stays in originals instead of being encoded.
func (r *renderer) pack(m proto.Message) *anypb.Any {
	if r.originals == nil {
		// An eager renderer encodes for real (tests compare with protojson).
		a, err := anypb.New(m)
		if err != nil {
			panic(err) // linked-in types only
		}
		return a
	}
	a := &anypb.Any{TypeUrl: "type.googleapis.com/" + string(m.ProtoReflect().Descriptor().FullName())}
	r.originals[a] = m
	return a
}

// toGeneric renders a message as protojson would (camelCase names, only
// populated fields, enums by name, 64-bit integers as strings, Any with
// "@type", the well-known types in their JSON form), but straight into the
// generic values the CLI prints, with numbers as json.Number.
//
// Going through protojson text and decoding it again took most of
// `x translate`'s time at 1000 routes; walking the message once is several
// times cheaper. TestGenericMatchesProtojson keeps the two in agreement.
func (r *renderer) toGeneric(m protoreflect.Message) (any, error) {
	// Typed fast paths for the well-known types that appear on every
	// route and cluster (filter metadata is a Struct).
	switch t := m.Interface().(type) {
	case *structpb.Struct:
		return structFast(t), nil
	case *durationpb.Duration:
		return durationFast(t), nil
	case *wrapperspb.UInt32Value:
		return json.Number(strconv.FormatUint(uint64(t.GetValue()), 10)), nil
	case *wrapperspb.BoolValue:
		return t.GetValue(), nil
	}
	switch m.Descriptor().FullName() {
	case "google.protobuf.Any":
		return r.anyToGeneric(m)
	case "google.protobuf.Duration":
		return durationString(m), nil
	case "google.protobuf.Timestamp":
		return timestampString(m), nil
	case "google.protobuf.Struct":
		return r.structToGeneric(m)
	case "google.protobuf.Value":
		return r.valueToGeneric(m)
	case "google.protobuf.ListValue":
		return r.listValueToGeneric(m)
	case "google.protobuf.Empty":
		return map[string]any{}, nil
	case "google.protobuf.FieldMask":
		return fieldMaskString(m), nil
	case "google.protobuf.BoolValue", "google.protobuf.StringValue", "google.protobuf.BytesValue",
		"google.protobuf.Int32Value", "google.protobuf.UInt32Value", "google.protobuf.Int64Value",
		"google.protobuf.UInt64Value", "google.protobuf.FloatValue", "google.protobuf.DoubleValue":
		fd := m.Descriptor().Fields().ByName("value")
		return scalar(fd, m.Get(fd))
	}
	out := map[string]any{}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		var g any
		secret := sensitive(fd)
		if secret {
			r.redacting++
		}
		switch {
		case fd.IsList():
			g, err = r.listToGeneric(fd, v.List())
		case fd.IsMap():
			g, err = r.mapToGeneric(fd, v.Map())
		default:
			g, err = r.singular(fd, v)
		}
		if secret {
			r.redacting--
		}
		if err != nil {
			return false
		}
		out[fd.JSONName()] = g
		return true
	})
	return out, err
}

func (r *renderer) listToGeneric(fd protoreflect.FieldDescriptor, l protoreflect.List) (any, error) {
	out := make([]any, l.Len())
	for i := range out {
		g, err := r.singular(fd, l.Get(i))
		if err != nil {
			return nil, err
		}
		out[i] = g
	}
	return out, nil
}

func (r *renderer) mapToGeneric(fd protoreflect.FieldDescriptor, m protoreflect.Map) (any, error) {
	out := make(map[string]any, m.Len())
	var err error
	m.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
		var g any
		if g, err = r.singular(fd.MapValue(), v); err != nil {
			return false
		}
		out[k.String()] = g
		return true
	})
	return out, err
}

func (r *renderer) singular(fd protoreflect.FieldDescriptor, v protoreflect.Value) (any, error) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return r.toGeneric(v.Message())
	case protoreflect.StringKind:
		if r.redacting > 0 {
			return redactedText, nil
		}
	case protoreflect.BytesKind:
		if r.redacting > 0 {
			return redactedBytes, nil
		}
	}
	return scalar(fd, v)
}

func scalar(fd protoreflect.FieldDescriptor, v protoreflect.Value) (any, error) {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return v.Bool(), nil
	case protoreflect.StringKind:
		return v.String(), nil
	case protoreflect.BytesKind:
		return base64.StdEncoding.EncodeToString(v.Bytes()), nil
	case protoreflect.EnumKind:
		if fd.Enum().FullName() == "google.protobuf.NullValue" {
			return nil, nil
		}
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name()), nil
		}
		return json.Number(strconv.Itoa(int(v.Enum()))), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return json.Number(strconv.FormatInt(v.Int(), 10)), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return json.Number(strconv.FormatUint(v.Uint(), 10)), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return strconv.FormatInt(v.Int(), 10), nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return strconv.FormatUint(v.Uint(), 10), nil
	case protoreflect.FloatKind:
		return floatValue(v.Float(), 32), nil
	case protoreflect.DoubleKind:
		return floatValue(v.Float(), 64), nil
	}
	return nil, fmt.Errorf("field %s: unsupported kind %v", fd.FullName(), fd.Kind())
}

func floatValue(f float64, bits int) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	// Like protojson (and JavaScript): plain digits between 1e-6 and 1e21.
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	return json.Number(strconv.FormatFloat(f, format, -1, bits))
}

func (r *renderer) anyToGeneric(m protoreflect.Message) (any, error) {
	fields := m.Descriptor().Fields()
	url := m.Get(fields.ByName("type_url")).String()
	if url == "" && len(m.Get(fields.ByName("value")).Bytes()) == 0 {
		return map[string]any{}, nil // an empty Any, as protojson prints it
	}
	if a, ok := m.Interface().(*anypb.Any); ok {
		if orig, ok := r.originals[a]; ok {
			// Packed by this renderer: walk the message itself rather
			// than marshal it to bytes and back.
			g, err := r.toGeneric(orig.ProtoReflect())
			if err != nil {
				return nil, err
			}
			if obj, ok := g.(map[string]any); ok && !isWellKnown(orig.ProtoReflect().Descriptor().FullName()) {
				obj["@type"] = url
				return obj, nil
			}
			return map[string]any{"@type": url, "value": g}, nil
		}
	}
	value := m.Get(fields.ByName("value")).Bytes()
	name := url
	if i := strings.LastIndexByte(url, '/'); i >= 0 {
		name = url[i+1:]
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(name))
	if err != nil {
		return nil, fmt.Errorf("Any %q: %w", url, err)
	}
	inner := mt.New()
	if err := protoUnmarshal(value, inner.Interface()); err != nil {
		return nil, fmt.Errorf("Any %q: %w", url, err)
	}
	g, err := r.toGeneric(inner)
	if err != nil {
		return nil, err
	}
	if obj, ok := g.(map[string]any); ok && !isWellKnown(inner.Descriptor().FullName()) {
		obj["@type"] = url
		return obj, nil
	}
	return map[string]any{"@type": url, "value": g}, nil
}

func isWellKnown(name protoreflect.FullName) bool {
	return strings.HasPrefix(string(name), "google.protobuf.")
}

func durationString(m protoreflect.Message) string {
	fields := m.Descriptor().Fields()
	secs := m.Get(fields.ByName("seconds")).Int()
	nanos := m.Get(fields.ByName("nanos")).Int()
	sign := ""
	if secs < 0 || nanos < 0 {
		sign, secs, nanos = "-", -secs, -nanos
	}
	return sign + strconv.FormatInt(secs, 10) + fraction(nanos) + "s"
}

// fraction prints nanoseconds with 0, 3, 6 or 9 digits, as protojson does.
func fraction(nanos int64) string {
	if nanos == 0 {
		return ""
	}
	s := fmt.Sprintf(".%09d", nanos)
	s = strings.TrimSuffix(s, "000")
	return strings.TrimSuffix(s, "000")
}

func timestampString(m protoreflect.Message) string {
	fields := m.Descriptor().Fields()
	t := time.Unix(m.Get(fields.ByName("seconds")).Int(), m.Get(fields.ByName("nanos")).Int()).UTC()
	return t.Format("2006-01-02T15:04:05") + fraction(int64(t.Nanosecond())) + "Z"
}

func fieldMaskString(m protoreflect.Message) string {
	l := m.Get(m.Descriptor().Fields().ByName("paths")).List()
	paths := make([]string, l.Len())
	for i := range paths {
		paths[i] = lowerCamel(l.Get(i).String())
	}
	return strings.Join(paths, ",")
}

func lowerCamel(s string) string {
	var b strings.Builder
	up := false
	for _, r := range s {
		if r == '_' {
			up = true
			continue
		}
		if up && r >= 'a' && r <= 'z' {
			r -= 'a' - 'A'
		}
		up = false
		b.WriteRune(r)
	}
	return b.String()
}

func (r *renderer) structToGeneric(m protoreflect.Message) (any, error) {
	fields := m.Get(m.Descriptor().Fields().ByName("fields")).Map()
	out := make(map[string]any, fields.Len())
	var err error
	fields.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
		var g any
		if g, err = r.valueToGeneric(v.Message()); err != nil {
			return false
		}
		out[k.String()] = g
		return true
	})
	return out, err
}

func (r *renderer) listValueToGeneric(m protoreflect.Message) (any, error) {
	l := m.Get(m.Descriptor().Fields().ByName("values")).List()
	out := make([]any, l.Len())
	for i := range out {
		g, err := r.valueToGeneric(l.Get(i).Message())
		if err != nil {
			return nil, err
		}
		out[i] = g
	}
	return out, nil
}

func (r *renderer) valueToGeneric(m protoreflect.Message) (any, error) {
	od := m.Descriptor().Oneofs().ByName("kind")
	fd := m.WhichOneof(od)
	if fd == nil {
		return nil, nil
	}
	v := m.Get(fd)
	switch fd.Name() {
	case "null_value":
		return nil, nil
	case "number_value":
		return floatValue(v.Float(), 64), nil
	case "string_value":
		return v.String(), nil
	case "bool_value":
		return v.Bool(), nil
	case "struct_value":
		return r.structToGeneric(v.Message())
	case "list_value":
		return r.listValueToGeneric(v.Message())
	}
	return nil, fmt.Errorf("google.protobuf.Value: unknown kind %s", fd.Name())
}

func structFast(s *structpb.Struct) map[string]any {
	out := make(map[string]any, len(s.GetFields()))
	for k, v := range s.GetFields() {
		out[k] = valueFast(v)
	}
	return out
}

func valueFast(v *structpb.Value) any {
	switch k := v.GetKind().(type) {
	case *structpb.Value_NumberValue:
		return floatValue(k.NumberValue, 64)
	case *structpb.Value_StringValue:
		return k.StringValue
	case *structpb.Value_BoolValue:
		return k.BoolValue
	case *structpb.Value_StructValue:
		return structFast(k.StructValue)
	case *structpb.Value_ListValue:
		out := make([]any, len(k.ListValue.GetValues()))
		for i, e := range k.ListValue.GetValues() {
			out[i] = valueFast(e)
		}
		return out
	}
	return nil
}

func durationFast(d *durationpb.Duration) string {
	secs, nanos := d.GetSeconds(), int64(d.GetNanos())
	sign := ""
	if secs < 0 || nanos < 0 {
		sign, secs, nanos = "-", -secs, -nanos
	}
	return sign + strconv.FormatInt(secs, 10) + fraction(nanos) + "s"
}
