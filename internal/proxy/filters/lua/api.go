package lua

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	glua "github.com/yuin/gopher-lua"
)

// APIError prefixes errors about the use of the handle API itself (an
// unknown method, respond() on the response path): unlike errors that
// depend on request data, they are bugs in the script.
const APIError = "lua api: "

// Respond is raised after handle:respond() to stop the script, as Envoy
// never resumes a script that responded.
const respondSentinel = "__portico_respond"

// Phase is one envoy_on_request or envoy_on_response call.
type Phase struct {
	B         Backend
	Responded bool
}

type objType struct {
	name    string
	methods map[string]glua.LGFunction
	pairs   glua.LGFunction
}

var objTypes = []objType{
	{name: "handle", methods: map[string]glua.LGFunction{
		"headers": hHeaders, "body": hBody, "bodyChunks": hBodyChunks, "trailers": hTrailers,
		"metadata": hMetadata, "streamInfo": hStreamInfo, "connection": hConnection,
		"logTrace": hLog(LogTrace), "logDebug": hLog(LogDebug), "logInfo": hLog(LogInfo),
		"logWarn": hLog(LogWarn), "logErr": hLog(LogError), "logCritical": hLog(LogCritical),
		"httpCall": hHTTPCall, "respond": hRespond, "filterContext": hFilterContext,
		"clearRouteCache": hClearRouteCache, "timestamp": hTimestamp,
		"timestampString": hTimestampString, "base64Escape": hBase64Escape,
	}},
	{name: "headers", methods: map[string]glua.LGFunction{
		"get": hdrGet, "getAtIndex": hdrGetAtIndex, "getNumValues": hdrNumValues,
		"add": hdrAdd, "replace": hdrReplace, "remove": hdrRemove,
		"setHttp1ReasonPhrase": func(L *glua.LState) int { L.CheckString(2); return 0 },
	}, pairs: hdrPairs},
	{name: "buffer", methods: map[string]glua.LGFunction{
		"length": bufLength, "getBytes": bufGetBytes, "setBytes": bufSetBytes,
	}},
	{name: "streamInfo", methods: map[string]glua.LGFunction{
		"protocol":                      siString(func(s *StreamInfo) string { return s.Protocol }),
		"downstreamLocalAddress":        siString(func(s *StreamInfo) string { return s.DownstreamLocalAddress }),
		"downstreamRemoteAddress":       siString(func(s *StreamInfo) string { return s.DownstreamRemoteAddress }),
		"downstreamDirectRemoteAddress": siString(func(s *StreamInfo) string { return s.DirectRemoteAddress }),
		"requestedServerName":           siString(func(s *StreamInfo) string { return s.RequestedServerName }),
		"routeName":                     siString(func(s *StreamInfo) string { return s.RouteName }),
		"dynamicMetadata":               siDynamicMetadata,
		"downstreamSslConnection":       func(L *glua.LState) int { return pushSSL(L, phaseOf(L).B.Info().TLS) },
	}},
	{name: "dynamicMetadata", methods: map[string]glua.LGFunction{
		"get": dmGet, "set": dmSet,
	}, pairs: dmPairs},
	{name: "metadata", methods: map[string]glua.LGFunction{"get": mdGet}, pairs: mdPairs},
	{name: "filterContext", methods: map[string]glua.LGFunction{"get": fcGet}, pairs: fcPairs},
	{name: "connection", methods: map[string]glua.LGFunction{
		"ssl": func(L *glua.LState) int { return pushSSL(L, phaseOf(L).B.Info().TLS) },
	}},
	{name: "ssl", methods: sslMethods()},
}

// MethodNames lists the API by object ("handle", "headers", ...), sorted;
// the validator's tests and the docs use it.
func MethodNames() map[string][]string {
	out := map[string][]string{}
	for _, t := range objTypes {
		out[t.name] = slices.Sorted(maps.Keys(t.methods))
	}
	return out
}

const mtPrefix = "portico.lua."

// registerAPI creates one metatable per object type. Method lookup is a
// plain table hit; only an unknown name reaches the guard, which raises an
// APIError naming the object.
func registerAPI(L *glua.LState) {
	for _, t := range objTypes {
		mt := L.NewTypeMetatable(mtPrefix + t.name)
		methods := L.SetFuncs(L.NewTable(), t.methods)
		name := t.name
		guardMT := L.NewTable()
		guardMT.RawSetString("__index", L.NewFunction(func(L *glua.LState) int {
			L.RaiseError("%s'%s' is not a method of the %s object", APIError, L.ToString(2), name)
			return 0
		}))
		L.SetMetatable(methods, guardMT)
		mt.RawSetString("__index", methods)
		if t.pairs != nil {
			mt.RawSetString("__pairs", L.NewFunction(t.pairs))
		}
		mt.RawSetString("__metatable", glua.LString("locked"))
	}
}

func newObj(L *glua.LState, typ string, v any) *glua.LUserData {
	ud := L.NewUserData()
	ud.Value = v
	L.SetMetatable(ud, L.GetTypeMetatable(mtPrefix+typ))
	return ud
}

// NewHandle is the stream handle passed to envoy_on_request/response.
func NewHandle(L *glua.LState, p *Phase) *glua.LUserData { return newObj(L, "handle", p) }

func check[T any](L *glua.LState, what string) T {
	ud, ok := L.Get(1).(*glua.LUserData)
	if ok {
		if v, ok := ud.Value.(T); ok {
			return v
		}
	}
	L.RaiseError("%scall %s methods with ':'", APIError, what)
	var zero T
	return zero
}

// phaseOf finds the phase of any object: every object carries a pointer
// back to it (objects hold *Phase or a struct with one).
func phaseOf(L *glua.LState) *Phase {
	ud, _ := L.Get(1).(*glua.LUserData)
	if ud == nil {
		L.RaiseError("%scall methods with ':'", APIError)
		return nil
	}
	switch v := ud.Value.(type) {
	case *Phase:
		return v
	case *objRef:
		return v.p
	}
	L.RaiseError("%sbad object", APIError)
	return nil
}

// objRef is a sub-object (streamInfo, connection, ...) of a phase.
type objRef struct{ p *Phase }

func hHeaders(L *glua.LState) int {
	p := check[*Phase](L, "handle")
	L.Push(newObj(L, "headers", p.B.Headers()))
	return 1
}

type buffer struct {
	p    *Phase
	data []byte
}

// readBody waits for the request body (the client's pace, not the
// script's) and charges the call for it.
func readBody(L *glua.LState, p *Phase, what string) []byte {
	var err error
	b := blocking(L, func() (b []byte) {
		b, err = p.B.Body()
		return b
	})
	if err != nil {
		L.RaiseError("%s: %v", what, err)
	}
	charge(L, len(b))
	return b
}

func hBody(L *glua.LState) int {
	p := check[*Phase](L, "handle")
	b := readBody(L, p, "body")
	if b == nil && !L.OptBool(2, false) {
		L.Push(glua.LNil)
		return 1
	}
	L.Push(newObj(L, "buffer", &buffer{p: p, data: b}))
	return 1
}

// bodyChunks iterates the body. The proxy buffers the body before the
// script runs when the script reads it, so there is one chunk.
func hBodyChunks(L *glua.LState) int {
	p := check[*Phase](L, "handle")
	b := readBody(L, p, "bodyChunks")
	done := len(b) == 0
	L.Push(L.NewFunction(func(L *glua.LState) int {
		if done {
			L.Push(glua.LNil)
			return 1
		}
		done = true
		L.Push(newObj(L, "buffer", &buffer{p: p, data: b}))
		return 1
	}))
	return 1
}

func hTrailers(L *glua.LState) int {
	p := check[*Phase](L, "handle")
	t := p.B.Trailers()
	if t == nil {
		L.Push(glua.LNil)
		return 1
	}
	L.Push(newObj(L, "headers", t))
	return 1
}

func hMetadata(L *glua.LState) int {
	p := check[*Phase](L, "handle")
	L.Push(newObj(L, "metadata", p.B.Info().RouteMetadata))
	return 1
}

func hStreamInfo(L *glua.LState) int {
	p := check[*Phase](L, "handle")
	L.Push(newObj(L, "streamInfo", &objRef{p: p}))
	return 1
}

func hConnection(L *glua.LState) int {
	p := check[*Phase](L, "handle")
	L.Push(newObj(L, "connection", &objRef{p: p}))
	return 1
}

func hLog(level LogLevel) glua.LGFunction {
	return func(L *glua.LState) int {
		p := check[*Phase](L, "handle")
		p.B.Log(level, L.ToString(2))
		return 0
	}
}

func hFilterContext(L *glua.LState) int {
	p := check[*Phase](L, "handle")
	L.Push(newObj(L, "filterContext", p.B.Info().FilterContext))
	return 1
}

func hClearRouteCache(L *glua.LState) int {
	check[*Phase](L, "handle").B.ClearRouteCache()
	return 0
}

func hTimestamp(L *glua.LState) int {
	check[*Phase](L, "handle")
	L.Push(glua.LNumber(time.Now().UnixMilli()))
	return 1
}

func hTimestampString(L *glua.LState) int {
	check[*Phase](L, "handle")
	L.Push(glua.LString(strconv.FormatInt(time.Now().UnixMilli(), 10)))
	return 1
}

func hBase64Escape(L *glua.LState) int {
	check[*Phase](L, "handle")
	L.Push(glua.LString(base64.StdEncoding.EncodeToString([]byte(L.CheckString(2)))))
	return 1
}

// headersFromTable reads a Lua header table: values are strings or lists
// of strings (several set-cookie headers).
func headersFromTable(L *glua.LState, t *glua.LTable) http.Header {
	h := http.Header{}
	t.ForEach(func(k, v glua.LValue) {
		name := strings.ToLower(k.String())
		switch v := v.(type) {
		case *glua.LTable:
			v.ForEach(func(_, x glua.LValue) { h[name] = append(h[name], x.String()) })
		default:
			h[name] = append(h[name], v.String())
		}
	})
	return h
}

// httpCall(cluster, headers, body, timeout_ms[, asynchronous | options]).
func hHTTPCall(L *glua.LState) int {
	p := check[*Phase](L, "handle")
	cluster := L.CheckString(2)
	h := headersFromTable(L, L.CheckTable(3))
	body := ""
	if v := L.Get(4); v != glua.LNil {
		body = v.String()
	}
	timeout := time.Duration(L.CheckInt(5)) * time.Millisecond
	async := false
	switch o := L.Get(6).(type) {
	case glua.LBool:
		async = bool(o)
	case *glua.LTable:
		async = glua.LVAsBool(o.RawGetString("asynchronous"))
	}
	for _, k := range []string{":method", ":path", ":authority"} {
		if len(h[k]) == 0 {
			L.RaiseError("%shttpCall: header %s is required", APIError, k)
		}
	}
	var (
		status int
		rh     http.Header
		err    error
	)
	rb := blocking(L, func() (rb string) {
		status, rh, rb, err = p.B.HTTPCall(cluster, h, body, timeout, async)
		return rb
	})
	if async {
		return 0
	}
	if err != nil {
		L.RaiseError("httpCall to %s: %v", cluster, err)
	}
	charge(L, len(rb))
	t := L.NewTable()
	t.RawSetString(":status", glua.LString(strconv.Itoa(status)))
	for _, k := range slices.Sorted(maps.Keys(rh)) {
		t.RawSetString(strings.ToLower(k), glua.LString(strings.Join(rh[k], ",")))
	}
	L.Push(t)
	L.Push(glua.LString(rb))
	return 2
}

// respond(headers, body) answers the request and ends the script.
func hRespond(L *glua.LState) int {
	p := check[*Phase](L, "handle")
	if p.B.Response() {
		L.RaiseError("%srespond() is only allowed in envoy_on_request", APIError)
	}
	h := headersFromTable(L, L.CheckTable(2))
	st, err := strconv.Atoi(strings.Join(h[":status"], ""))
	if err != nil || st < 200 || st > 999 {
		L.RaiseError("%srespond: :status must be a number between 200 and 999", APIError)
	}
	delete(h, ":status")
	body := ""
	if v := L.Get(3); v != glua.LNil {
		body = v.String()
	}
	p.B.Respond(st, h, body)
	p.Responded = true
	L.RaiseError("%s", respondSentinel)
	return 0
}

func hdrs(L *glua.LState) Headers { return check[Headers](L, "headers") }

func hdrGet(L *glua.LState) int {
	v := hdrs(L).Get(strings.ToLower(L.CheckString(2)))
	if len(v) == 0 {
		L.Push(glua.LNil)
		return 1
	}
	L.Push(glua.LString(strings.Join(v, ",")))
	return 1
}

func hdrGetAtIndex(L *glua.LState) int {
	v := hdrs(L).Get(strings.ToLower(L.CheckString(2)))
	i := L.CheckInt(3)
	if i < 0 || i >= len(v) {
		L.Push(glua.LNil)
		return 1
	}
	L.Push(glua.LString(v[i]))
	return 1
}

func hdrNumValues(L *glua.LState) int {
	L.Push(glua.LNumber(len(hdrs(L).Get(strings.ToLower(L.CheckString(2))))))
	return 1
}

func hdrAdd(L *glua.LState) int {
	h := hdrs(L)
	h.Add(strings.ToLower(L.CheckString(2)), L.CheckString(3))
	return 0
}

func hdrReplace(L *glua.LState) int {
	h := hdrs(L)
	h.Set(strings.ToLower(L.CheckString(2)), L.CheckString(3))
	return 0
}

func hdrRemove(L *glua.LState) int {
	hdrs(L).Remove(strings.ToLower(L.CheckString(2)))
	return 0
}

func hdrPairs(L *glua.LState) int {
	var kv [][2]string
	hdrs(L).Each(func(k, v string) { kv = append(kv, [2]string{k, v}) })
	return pushIter(L, len(kv), func(i int) (glua.LValue, glua.LValue) {
		return glua.LString(kv[i][0]), glua.LString(kv[i][1])
	})
}

func pushIter(L *glua.LState, n int, at func(i int) (glua.LValue, glua.LValue)) int {
	i := 0
	L.Push(L.NewFunction(func(L *glua.LState) int {
		if i >= n {
			L.Push(glua.LNil)
			return 1
		}
		k, v := at(i)
		i++
		L.Push(k)
		L.Push(v)
		return 2
	}))
	L.Push(glua.LNil)
	L.Push(glua.LNil)
	return 3
}

func bufLength(L *glua.LState) int {
	L.Push(glua.LNumber(len(check[*buffer](L, "buffer").data)))
	return 1
}

// getBytes(index, length), zero-based like Envoy's.
func bufGetBytes(L *glua.LState) int {
	b := check[*buffer](L, "buffer")
	i, n := L.CheckInt(2), L.CheckInt(3)
	if i < 0 || n < 0 || i+n > len(b.data) {
		L.RaiseError("index/length out of range: %d/%d for a body of %d bytes", i, n, len(b.data))
	}
	L.Push(glua.LString(b.data[i : i+n]))
	return 1
}

func bufSetBytes(L *glua.LState) int {
	b := check[*buffer](L, "buffer")
	b.data = []byte(L.CheckString(2))
	b.p.B.SetBody(b.data)
	L.Push(glua.LNumber(len(b.data)))
	return 1
}

func siString(f func(*StreamInfo) string) glua.LGFunction {
	return func(L *glua.LState) int {
		L.Push(glua.LString(f(phaseOf(L).B.Info())))
		return 1
	}
}

func siDynamicMetadata(L *glua.LState) int {
	L.Push(newObj(L, "dynamicMetadata", &objRef{p: phaseOf(L)}))
	return 1
}

func dmGet(L *glua.LState) int {
	ns := phaseOf(L).B.DynamicMetadata()[L.CheckString(2)]
	if ns == nil {
		L.Push(glua.LNil)
		return 1
	}
	L.Push(ToLua(L, map[string]any(ns)))
	return 1
}

func dmSet(L *glua.LState) int {
	dm := phaseOf(L).B.DynamicMetadata()
	ns, key := L.CheckString(2), L.CheckString(3)
	if dm[ns] == nil {
		dm[ns] = map[string]any{}
	}
	dm[ns][key] = FromLua(L.Get(4))
	return 0
}

func dmPairs(L *glua.LState) int {
	dm := phaseOf(L).B.DynamicMetadata()
	keys := slices.Sorted(maps.Keys(dm))
	return pushIter(L, len(keys), func(i int) (glua.LValue, glua.LValue) {
		return glua.LString(keys[i]), ToLua(L, map[string]any(dm[keys[i]]))
	})
}

func mapGet(L *glua.LState, what string) int {
	m := check[map[string]any](L, what)
	v, ok := m[L.CheckString(2)]
	if !ok {
		L.Push(glua.LNil)
		return 1
	}
	L.Push(ToLua(L, v))
	return 1
}

func mapPairs(L *glua.LState, what string) int {
	m := check[map[string]any](L, what)
	keys := slices.Sorted(maps.Keys(m))
	return pushIter(L, len(keys), func(i int) (glua.LValue, glua.LValue) {
		return glua.LString(keys[i]), ToLua(L, m[keys[i]])
	})
}

func mdGet(L *glua.LState) int   { return mapGet(L, "metadata") }
func mdPairs(L *glua.LState) int { return mapPairs(L, "metadata") }
func fcGet(L *glua.LState) int   { return mapGet(L, "filterContext") }
func fcPairs(L *glua.LState) int { return mapPairs(L, "filterContext") }

func pushSSL(L *glua.LState, cs *tls.ConnectionState) int {
	if cs == nil {
		L.Push(glua.LNil)
		return 1
	}
	L.Push(newObj(L, "ssl", cs))
	return 1
}

func sslMethods() map[string]glua.LGFunction {
	str := func(f func(*tls.ConnectionState) string) glua.LGFunction {
		return func(L *glua.LState) int {
			L.Push(glua.LString(f(check[*tls.ConnectionState](L, "ssl"))))
			return 1
		}
	}
	peer := func(cs *tls.ConnectionState) bool { return len(cs.PeerCertificates) > 0 }
	return map[string]glua.LGFunction{
		"peerCertificatePresented": func(L *glua.LState) int {
			L.Push(glua.LBool(peer(check[*tls.ConnectionState](L, "ssl"))))
			return 1
		},
		"peerCertificateValidated": func(L *glua.LState) int {
			L.Push(glua.LBool(len(check[*tls.ConnectionState](L, "ssl").VerifiedChains) > 0))
			return 1
		},
		"tlsVersion":        str(func(cs *tls.ConnectionState) string { return tlsVersion(cs.Version) }),
		"ciphersuiteString": str(func(cs *tls.ConnectionState) string { return tls.CipherSuiteName(cs.CipherSuite) }),
		"ciphersuiteId":     str(func(cs *tls.ConnectionState) string { return fmt.Sprintf("0x%04x", cs.CipherSuite) }),
		"sha256PeerCertificateDigest": str(func(cs *tls.ConnectionState) string {
			if !peer(cs) {
				return ""
			}
			d := sha256.Sum256(cs.PeerCertificates[0].Raw)
			return hex.EncodeToString(d[:])
		}),
		"serialNumberPeerCertificate": str(func(cs *tls.ConnectionState) string {
			if !peer(cs) {
				return ""
			}
			return strings.ToLower(cs.PeerCertificates[0].SerialNumber.Text(16))
		}),
		"subjectPeerCertificate": str(func(cs *tls.ConnectionState) string {
			if !peer(cs) {
				return ""
			}
			return cs.PeerCertificates[0].Subject.String()
		}),
		"issuerPeerCertificate": str(func(cs *tls.ConnectionState) string {
			if !peer(cs) {
				return ""
			}
			return cs.PeerCertificates[0].Issuer.String()
		}),
		"dnsSansPeerCertificate": func(L *glua.LState) int {
			cs := check[*tls.ConnectionState](L, "ssl")
			t := L.NewTable()
			if peer(cs) {
				for _, n := range cs.PeerCertificates[0].DNSNames {
					t.Append(glua.LString(n))
				}
			}
			L.Push(t)
			return 1
		},
		"uriSanPeerCertificate": func(L *glua.LState) int {
			cs := check[*tls.ConnectionState](L, "ssl")
			t := L.NewTable()
			if peer(cs) {
				for _, u := range cs.PeerCertificates[0].URIs {
					t.Append(glua.LString(u.String()))
				}
			}
			L.Push(t)
			return 1
		},
	}
}

func tlsVersion(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLSv1"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	}
	return "unknown"
}

// ToLua converts JSON-like Go values (metadata, filter context).
func ToLua(L *glua.LState, v any) glua.LValue {
	switch v := v.(type) {
	case nil:
		return glua.LNil
	case string:
		return glua.LString(v)
	case bool:
		return glua.LBool(v)
	case float64:
		return glua.LNumber(v)
	case int:
		return glua.LNumber(v)
	case int64:
		return glua.LNumber(v)
	case map[string]any:
		t := L.CreateTable(0, len(v))
		for _, k := range slices.Sorted(maps.Keys(v)) {
			t.RawSetString(k, ToLua(L, v[k]))
		}
		return t
	case []any:
		t := L.CreateTable(len(v), 0)
		for _, x := range v {
			t.Append(ToLua(L, x))
		}
		return t
	}
	return glua.LString(fmt.Sprint(v))
}

// FromLua converts a Lua value to JSON-like Go values; a table with only
// 1..n keys is a list.
func FromLua(v glua.LValue) any {
	switch v := v.(type) {
	case glua.LString:
		return string(v)
	case glua.LNumber:
		return float64(v)
	case glua.LBool:
		return bool(v)
	case *glua.LTable:
		if n := v.Len(); n > 0 {
			list := make([]any, 0, n)
			for i := 1; i <= n; i++ {
				list = append(list, FromLua(v.RawGetInt(i)))
			}
			return list
		}
		m := map[string]any{}
		v.ForEach(func(k, x glua.LValue) { m[k.String()] = FromLua(x) })
		return m
	}
	return nil
}
