// Package accesslog is the built-in proxy's access log: Envoy's
// substitution formats (text and JSON, compiled once), AccessLogFilters
// (shared with local_reply_config mappers), and the logger that writes
// lines to stdout, stderr or files, buffered as Envoy buffers file logs. It
// reads a finished stream through its streaminfo.StreamInfo only.
package accesslog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/internal/proxy/streaminfo"
)

// Envoy's default access log format, used when a log has no format.
const defaultLogFormat = `[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" ` +
	`%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% ` +
	`%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" ` +
	`"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"` + "\n"

// logCmd is one %COMMAND(arg?alt):max% of an access log format.
type logCmd struct {
	lit            string // literal text when name == ""
	name, arg, alt string
	max            int
	// argKey and altKey are arg and alt as canonical header keys ("" for
	// pseudo-headers), computed once rather than per logged request.
	argKey, altKey string
	op             logOp
	// argPseudo and altPseudo say which request-line value arg and alt
	// name, if any (pseudoNone for headers).
	argPseudo, altPseudo pseudo
}

// pseudo is a request header that is not in the header map.
type pseudo uint8

const (
	pseudoNone pseudo = iota
	pseudoAuthority
	pseudoPath
	pseudoMethod
)

func pseudoOf(name string) pseudo {
	switch streaminfo.PseudoName(name) {
	case ":authority", "host":
		return pseudoAuthority
	case ":path":
		return pseudoPath
	case ":method":
		return pseudoMethod
	}
	return pseudoNone
}

// logOp is a command's name resolved once, when the format is compiled:
// rendering switches on it for every field of every logged request.
type logOp uint8

// The commands the proxy can render; others NACK by name.
const (
	opLiteral logOp = iota
	opStartTime
	opReq
	opResp
	opTrailer
	opProtocol
	opResponseCode
	opResponseCodeDetails
	opResponseFlags
	opBytesReceived
	opBytesSent
	opDuration
	opUpstreamHost
	opUpstreamCluster
	opUpstreamLocalAddress
	opUpstreamTransportFailureReason
	opDownstreamLocalAddress
	opDownstreamRemoteAddress
	opDownstreamRemoteAddressWithoutPort
	opRequestedServerName
	opRouteName
	opConnectionTerminationDetails
	opHostname
	opLocalReplyBody
)

var logOps = map[string]logOp{"START_TIME": opStartTime, "REQ": opReq, "RESP": opResp, "TRAILER": opTrailer, "PROTOCOL": opProtocol, "RESPONSE_CODE": opResponseCode, "RESPONSE_CODE_DETAILS": opResponseCodeDetails, "RESPONSE_FLAGS": opResponseFlags, "BYTES_RECEIVED": opBytesReceived, "BYTES_SENT": opBytesSent, "DURATION": opDuration, "UPSTREAM_HOST": opUpstreamHost, "UPSTREAM_CLUSTER": opUpstreamCluster, "UPSTREAM_LOCAL_ADDRESS": opUpstreamLocalAddress, "UPSTREAM_TRANSPORT_FAILURE_REASON": opUpstreamTransportFailureReason, "DOWNSTREAM_LOCAL_ADDRESS": opDownstreamLocalAddress, "DOWNSTREAM_REMOTE_ADDRESS": opDownstreamRemoteAddress, "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT": opDownstreamRemoteAddressWithoutPort, "REQUESTED_SERVER_NAME": opRequestedServerName, "ROUTE_NAME": opRouteName, "CONNECTION_TERMINATION_DETAILS": opConnectionTerminationDetails, "HOSTNAME": opHostname, "LOCAL_REPLY_BODY": opLocalReplyBody}

// numericCmds render as JSON numbers.
var numericCmds = map[string]bool{"RESPONSE_CODE": true, "BYTES_RECEIVED": true, "BYTES_SENT": true, "DURATION": true}

func parseLogFormat(s string) ([]logCmd, error) {
	var out []logCmd
	for len(s) > 0 {
		i := strings.IndexByte(s, '%')
		if i < 0 {
			out = append(out, logCmd{lit: s})
			break
		}
		if i > 0 {
			out = append(out, logCmd{lit: s[:i]})
		}
		s = s[i+1:]
		if strings.HasPrefix(s, "%") { // "%%" is a literal percent
			out = append(out, logCmd{lit: "%"})
			s = s[1:]
			continue
		}
		j := strings.IndexByte(s, '%')
		if j < 0 {
			return nil, fmt.Errorf("unterminated %% in access log format")
		}
		body := s[:j]
		s = s[j+1:]
		c := logCmd{name: body}
		if k := strings.IndexByte(body, '('); k >= 0 {
			end := strings.LastIndexByte(body, ')')
			if end < k {
				return nil, fmt.Errorf("access log command %q: missing ')'", body)
			}
			c.name, c.arg = body[:k], body[k+1:end]
			c.arg, c.alt, _ = strings.Cut(c.arg, "?")
			if rest := body[end+1:]; strings.HasPrefix(rest, ":") {
				c.max, _ = strconv.Atoi(rest[1:])
			}
		}
		op, ok := logOps[c.name]
		if !ok {
			return nil, fmt.Errorf("access log command %%%s%% is not supported", c.name)
		}
		c.op = op
		c.argKey, c.altKey = headerKey(c.arg), headerKey(c.alt)
		c.argPseudo, c.altPseudo = pseudoOf(c.arg), pseudoOf(c.alt)
		out = append(out, c)
	}
	return out, nil
}

// appendText appends the command's text-format rendering ("-" when empty)
// to dst.
func (c *logCmd) appendText(dst []byte, info *streaminfo.StreamInfo) []byte {
	if d, ok := c.appendFast(dst, info); ok {
		return d
	}
	return append(dst, orDash(c.value(info))...)
}

// appendFast formats the commands every default line carries (time, code,
// byte counts, duration) straight into dst rather than into a string
// first: one allocation less each, per logged request. Their values are
// never empty and need no JSON escaping. ok is false for other commands.
func (c *logCmd) appendFast(dst []byte, info *streaminfo.StreamInfo) (_ []byte, ok bool) {
	if c.max != 0 {
		return dst, false
	}
	switch c.op {
	case opStartTime:
		return appendStartTime(dst, info.Start), true
	case opResponseCode:
		return strconv.AppendInt(dst, int64(info.ResponseCode), 10), true
	case opBytesReceived:
		return strconv.AppendInt(dst, info.BytesReceived.Load(), 10), true
	case opBytesSent:
		return strconv.AppendInt(dst, info.BytesSent, 10), true
	case opDuration:
		return strconv.AppendInt(dst, time.Since(info.Start).Milliseconds(), 10), true
	}
	return dst, false
}

// value renders one command for a finished request ("" when unknown).
func (c *logCmd) value(info *streaminfo.StreamInfo) string {
	v, ok := c.streamValue(info)
	switch {
	case ok:
	case info.Request == nil:
		v = c.connectionValue(info)
	default:
		v = c.requestValue(info)
	}
	if c.max > 0 && len(v) > c.max {
		v = v[:c.max]
	}
	return v
}

// streamValue renders the commands that read only the stream's info, the
// same for requests and proxied connections; ok is false for the others.
func (c *logCmd) streamValue(info *streaminfo.StreamInfo) (v string, ok bool) {
	switch c.op {
	case opStartTime:
		return string(appendStartTime(nil, info.Start)), true
	case opResponseCode:
		return strconv.Itoa(info.ResponseCode), true
	case opResponseCodeDetails:
		return info.ResponseCodeDetails, true
	case opResponseFlags:
		return info.ResponseFlags, true
	case opBytesReceived:
		return strconv.FormatInt(info.BytesReceived.Load(), 10), true
	case opBytesSent:
		return strconv.FormatInt(info.BytesSent, 10), true
	case opDuration:
		return strconv.FormatInt(time.Since(info.Start).Milliseconds(), 10), true
	case opUpstreamHost:
		return info.UpstreamHost, true
	case opUpstreamCluster:
		return info.UpstreamCluster, true
	case opRouteName:
		return info.RouteName, true
	case opHostname:
		return streaminfo.Hostname, true
	}
	return "", false
}

// requestValue renders the commands that read the request.
func (c *logCmd) requestValue(info *streaminfo.StreamInfo) string {
	r := info.Request
	var v string
	switch c.op {
	case opReq:
		if v = reqValueKey(info, c.arg, c.argKey, c.argPseudo); v == "" && c.alt != "" {
			v = reqValueKey(info, c.alt, c.altKey, c.altPseudo)
		}
	case opResp:
		if v = firstValue(info.ResponseHeader, c.arg, c.argKey); v == "" && c.alt != "" {
			v = firstValue(info.ResponseHeader, c.alt, c.altKey)
		}
	case opTrailer:
		v = info.ResponseHeader.Get(http.TrailerPrefix + c.arg)
	case opProtocol:
		v = r.Proto
	case opDownstreamRemoteAddress:
		v = r.RemoteAddr
	case opDownstreamRemoteAddressWithoutPort:
		v, _, _ = net.SplitHostPort(r.RemoteAddr)
	case opDownstreamLocalAddress:
		if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			v = localAddrString(a)
		}
	case opRequestedServerName:
		if r.TLS != nil {
			v = r.TLS.ServerName
		}
	}
	return v
}

// connectionValue renders, for a proxied connection (no request), the
// commands that read the downstream: request and response headers and the
// protocol are empty, as in Envoy's tcp_proxy logs.
func (c *logCmd) connectionValue(info *streaminfo.StreamInfo) string {
	conn := info.Connection
	if conn == nil {
		return ""
	}
	switch c.op {
	case opDownstreamRemoteAddress:
		return conn.RemoteAddr
	case opDownstreamRemoteAddressWithoutPort:
		v, _, _ := net.SplitHostPort(conn.RemoteAddr)
		return v
	case opDownstreamLocalAddress:
		return conn.LocalAddr
	case opRequestedServerName:
		return conn.ServerName
	}
	return ""
}

// jsonField is one key of a JSON log format, its key pre-encoded.
type jsonField struct {
	name    string
	key     string // `"name":`
	cmds    []logCmd
	numeric bool
}

// startTimeLayout is %START_TIME%'s default format.
const startTimeLayout = "2006-01-02T15:04:05.000Z"

// stampMemo is the last second formatted for %START_TIME%, up to and
// including the decimal point.
type stampMemo struct {
	sec    int64
	prefix []byte
}

var lastStamp atomic.Pointer[stampMemo]

// appendStartTime appends t in startTimeLayout. Requests in the same
// second share the formatting of the date and time, and only the
// milliseconds are appended per request: formatting was a fifth of
// rendering Envoy Gateway's JSON log line. (Keyed by the millisecond, the
// memo missed most of the time: requests end out of their start order.)
func appendStartTime(dst []byte, t time.Time) []byte {
	t = t.UTC()
	sec := t.Unix()
	m := lastStamp.Load()
	if m == nil || m.sec != sec {
		b := t.Truncate(time.Second).AppendFormat(make([]byte, 0, len(startTimeLayout)), startTimeLayout)
		m = &stampMemo{sec: sec, prefix: b[:len(b)-len("000Z")]}
		lastStamp.Store(m)
	}
	ms := t.Nanosecond() / int(time.Millisecond)
	dst = append(dst, m.prefix...)
	return append(dst, byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
}

// jsonPlain marks the bytes encoding/json copies into a string unescaped.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendJSONString appends s as encoding/json writes it. Plain printable
// ASCII (the usual header values) is copied as is; anything json.Marshal
// would escape (quotes, control characters, <>&, non-ASCII) takes
// json.Marshal's own path, so the output stays byte-identical.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !jsonPlain[s[i]] {
			b, _ := json.Marshal(s)
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// headerKey is name's canonical header key, or "" for pseudo-headers and
// Host, which reqHeader answers from the request line.
func headerKey(name string) string {
	if name == "" || strings.HasPrefix(name, ":") || strings.EqualFold(name, "host") {
		return ""
	}
	return textproto.CanonicalMIMEHeaderKey(name)
}

// firstValue is h.Get(name) with the key canonicalised in advance.
func firstValue(h http.Header, name, key string) string {
	if key == "" {
		return h.Get(name)
	}
	if vs := h[key]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// reqValueKey is reqValue with name's canonical key and pseudo-header
// kind computed in advance.
func reqValueKey(info *streaminfo.StreamInfo, name, key string, p pseudo) string {
	switch p {
	case pseudoAuthority:
		return info.Request.Host
	case pseudoPath:
		return info.Request.URL.RequestURI()
	case pseudoMethod:
		return info.Request.Method
	}
	if key == "" || (key == "X-Envoy-Original-Path" && info.OriginalPath != "") {
		return reqValue(info, name)
	}
	switch vs := info.Request.Header[key]; len(vs) {
	case 0:
		return ""
	case 1:
		return vs[0]
	default:
		return strings.Join(vs, ",")
	}
}

// reqValue reads a request header for the access log. The router sets
// x-envoy-original-path on the upstream request only, so it is kept here.
func reqValue(info *streaminfo.StreamInfo, name string) string {
	if strings.EqualFold(name, "x-envoy-original-path") && info.OriginalPath != "" {
		return info.OriginalPath
	}
	v, _ := streaminfo.RequestHeader(info.Request, name)
	return v
}

// localAddrMemo remembers the last formatted local TCP address: a
// listener's connections share one, and formatting it for
// %DOWNSTREAM_LOCAL_ADDRESS% was an allocation per logged request.
type localAddrMemo struct {
	ip   net.IP
	port int
	zone string
	s    string
}

var lastLocalAddr atomic.Pointer[localAddrMemo]

// localAddrString is a.String(), from the memo when a is the same address.
func localAddrString(a net.Addr) string {
	t, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	if m := lastLocalAddr.Load(); m != nil && m.port == t.Port && m.zone == t.Zone && bytes.Equal(m.ip, t.IP) {
		return m.s
	}
	s := t.String()
	lastLocalAddr.Store(&localAddrMemo{ip: bytes.Clone(t.IP), port: t.Port, zone: t.Zone, s: s})
	return s
}
