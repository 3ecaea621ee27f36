package wasm

import (
	"errors"
	"fmt"
	"strings"
)

// ABIVersions are the proxy-wasm ABI versions a module may declare by
// exporting a function of that name; Envoy refuses a module without one.
var ABIVersions = []string{"proxy_abi_version_0_2_1", "proxy_abi_version_0_2_0", "proxy_abi_version_0_1_0"}

// checkABI reports a module that exports none of ABIVersions, so that the
// policy says so instead of every proxy failing to start the VM.
func checkABI(mod []byte) error {
	exports, err := Exports(mod)
	if err != nil {
		return err
	}
	for _, e := range exports {
		for _, v := range ABIVersions {
			if e == v {
				return nil
			}
		}
	}
	return fmt.Errorf("it exports none of %s: not a proxy-wasm module", strings.Join(ABIVersions, ", "))
}

var errTruncated = errors.New("the Wasm binary is truncated")

// Exports lists the export names of a Wasm binary. Only the section
// framing and the export section are read; the rest is left to the
// runtime's validation.
func Exports(mod []byte) ([]string, error) {
	if len(mod) < 8 || string(mod[:4]) != "\x00asm" {
		return nil, errors.New("not a Wasm binary")
	}
	r := reader{b: mod[8:]}
	for len(r.b) > 0 {
		id, err := r.byte()
		if err != nil {
			return nil, err
		}
		size, err := r.u32()
		if err != nil {
			return nil, err
		}
		payload, err := r.take(int(size))
		if err != nil {
			return nil, err
		}
		if id == 7 {
			return exportNames(payload)
		}
	}
	return nil, nil
}

func exportNames(payload []byte) ([]string, error) {
	r := reader{b: payload}
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	if int(n) > len(payload) {
		return nil, errTruncated
	}
	out := make([]string, 0, n)
	for range n {
		l, err := r.u32()
		if err != nil {
			return nil, err
		}
		name, err := r.take(int(l))
		if err != nil {
			return nil, err
		}
		if _, err := r.byte(); err != nil { // kind
			return nil, err
		}
		if _, err := r.u32(); err != nil { // index
			return nil, err
		}
		out = append(out, string(name))
	}
	return out, nil
}

type reader struct{ b []byte }

func (r *reader) byte() (byte, error) {
	if len(r.b) == 0 {
		return 0, errTruncated
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c, nil
}

func (r *reader) take(n int) ([]byte, error) {
	if n < 0 || n > len(r.b) {
		return nil, errTruncated
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out, nil
}

// u32 reads an unsigned LEB128 of at most 5 bytes.
func (r *reader) u32() (uint32, error) {
	var v uint32
	for i := 0; i < 5; i++ {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		v |= uint32(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			return v, nil
		}
	}
	return 0, errors.New("the Wasm binary has a malformed integer")
}
