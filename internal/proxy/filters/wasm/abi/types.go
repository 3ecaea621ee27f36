// Package abi is a proxy-wasm host (ABI 0.2.1, and 0.2.0 where it
// differs) on wazero. It knows nothing of the proxy's request types: a
// stream reaches its headers, bodies and properties through StreamHost,
// and clusters through PluginConfig.Call, so the proxy's filter contract
// can change without touching the ABI.
//
// Concurrency follows Envoy: a module compiles once and runs in a pool of
// VMs, each with its own root context; a stream is pinned to one VM for
// its whole life, and a VM runs one callback at a time. A VM that traps,
// runs out of memory or past its deadline is replaced; the streams pinned
// to it fail (or pass, with failOpen), never the proxy.
package abi

import (
	"encoding/binary"
	"errors"

	"github.com/portico-gw/portico/internal/proxy/filters/envoylog"
)

// Status is a proxy-wasm result code.
type Status uint32

// Result codes of the ABI.
const (
	StatusOK                  Status = 0
	StatusNotFound            Status = 1
	StatusBadArgument         Status = 2
	StatusSerializationFailed Status = 3
	StatusParseFailure        Status = 4
	StatusInvalidMemoryAccess Status = 6
	StatusEmpty               Status = 7
	StatusCASMismatch         Status = 8
	StatusInternalFailure     Status = 10
	StatusUnimplemented       Status = 12
)

// MapType names a header map.
type MapType uint32

// Header maps.
const (
	RequestHeaders           MapType = 0
	RequestTrailers          MapType = 1
	ResponseHeaders          MapType = 2
	ResponseTrailers         MapType = 3
	GrpcInitialMetadata      MapType = 4
	GrpcTrailingMetadata     MapType = 5
	HTTPCallResponseHeaders  MapType = 6
	HTTPCallResponseTrailers MapType = 7
)

// BufferType names a buffer.
type BufferType uint32

// Buffers.
const (
	RequestBody          BufferType = 0
	ResponseBody         BufferType = 1
	DownstreamData       BufferType = 2
	UpstreamData         BufferType = 3
	HTTPCallResponseBody BufferType = 4
	GrpcReceiveBuffer    BufferType = 5
	VMConfiguration      BufferType = 6
	PluginConfiguration  BufferType = 7
	CallData             BufferType = 8
)

// Action is what a stream callback asks of the host.
type Action uint32

// Actions. Headers callbacks: 0 Continue, 1 StopIteration, 2
// ContinueAndEndStream, 3 StopAllIterationAndBuffer, 4
// StopAllIterationAndWatermark. Data callbacks: 0 Continue, 1
// StopIterationAndBuffer, 2 StopIterationAndWatermark, 3
// StopIterationNoBuffer. Anything but 0 (and 2 for headers) pauses.
const (
	ActionContinue Action = 0
	ActionPause    Action = 1
)

// LogLevel is proxy_log's level (Envoy's levels).
type LogLevel = envoylog.Level

// Log levels.
const (
	LogTrace    = envoylog.Trace
	LogDebug    = envoylog.Debug
	LogInfo     = envoylog.Info
	LogWarn     = envoylog.Warn
	LogError    = envoylog.Error
	LogCritical = envoylog.Critical
)

// HeaderMap is one header map of a stream, pseudo-headers included
// (":method", ":path", ":authority", ":status"), names lower-case.
type HeaderMap interface {
	Pairs() [][2]string
	Get(name string) (string, bool)
	Add(name, value string)
	Replace(name, value string)
	Remove(name string)
	SetPairs(pairs [][2]string)
}

// LocalResponse is proxy_send_local_response's answer.
type LocalResponse struct {
	Status  int
	Details string
	Body    []byte
	Headers [][2]string
}

// StreamHost is the proxy's side of one HTTP stream.
type StreamHost interface {
	// HeaderMap is the map of that type, nil when the stream has none yet.
	HeaderMap(t MapType) HeaderMap
	// Body is the buffered body of that type (request or response), nil
	// when there is none at this point.
	Body(t BufferType) *[]byte
	// Property is an Envoy attribute (path segments such as
	// ["request", "path"]) in the ABI's encoding.
	Property(path []string) ([]byte, bool)
	// SendLocalResponse answers the stream without going upstream.
	SendLocalResponse(r LocalResponse)
}

// CallRequest is a proxy_http_call.
type CallRequest struct {
	Cluster  string
	Headers  [][2]string
	Body     []byte
	Trailers [][2]string
	Timeout  uint32 // milliseconds
}

// CallResponse is the answer to a CallRequest.
type CallResponse struct {
	Headers  [][2]string
	Body     []byte
	Trailers [][2]string
}

// EncodePairs is the ABI's map serialization: u32 count, u32 key and
// value lengths per pair, then each key and value followed by a NUL.
func EncodePairs(pairs [][2]string) []byte {
	n := 4 + 8*len(pairs)
	for _, p := range pairs {
		n += len(p[0]) + len(p[1]) + 2
	}
	b := make([]byte, n)
	binary.LittleEndian.PutUint32(b, uint32(len(pairs)))
	off := 4
	for _, p := range pairs {
		binary.LittleEndian.PutUint32(b[off:], uint32(len(p[0])))
		binary.LittleEndian.PutUint32(b[off+4:], uint32(len(p[1])))
		off += 8
	}
	for _, p := range pairs {
		off += copy(b[off:], p[0]) + 1
		off += copy(b[off:], p[1]) + 1
	}
	return b
}

var errBadPairs = errors.New("malformed header map")

// DecodePairs reads EncodePairs' format; hostile input gives an error,
// never a panic or a huge allocation.
func DecodePairs(b []byte) ([][2]string, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if len(b) < 4 {
		return nil, errBadPairs
	}
	n := binary.LittleEndian.Uint32(b)
	if uint64(n)*8 > uint64(len(b)-4) {
		return nil, errBadPairs
	}
	sizes := b[4 : 4+8*n]
	data := b[4+8*n:]
	out := make([][2]string, 0, n)
	for i := uint32(0); i < n; i++ {
		kl := uint64(binary.LittleEndian.Uint32(sizes[8*i:]))
		vl := uint64(binary.LittleEndian.Uint32(sizes[8*i+4:]))
		if kl+vl+2 > uint64(len(data)) {
			return nil, errBadPairs
		}
		k := string(data[:kl])
		v := string(data[kl+1 : kl+1+vl])
		data = data[kl+vl+2:]
		out = append(out, [2]string{k, v})
	}
	return out, nil
}
