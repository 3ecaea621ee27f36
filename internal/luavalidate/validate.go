// Package luavalidate checks the Lua scripts of EnvoyExtensionPolicies
// before they reach a proxy, as EnvoyProxy spec.lua.validationType says:
//
//   - Strict (the default): the script compiles, references nothing the
//     sandbox denies (checked statically, so a branch the mock does not take
//     is still checked), defines envoy_on_request or envoy_on_response, and
//     runs against a mock stream handle inside the proxy's own sandbox under
//     a time and an allocation limit.
//   - InsecureSyntax: the script compiles.
//   - Disabled: nothing is checked.
//
// The mock handle is the built-in proxy's real handle API bound to a mock
// stream, so "validates" means "uses only what the proxy serves". Errors
// caused by the mock's data (a header the mock does not have, arithmetic
// on nil) are not held against the script: the mock cannot know what real
// requests carry, and Envoy Gateway's rejecting such valid scripts is a
// known problem. Sandbox violations, unknown API methods, errors in the top
// level of the script and the limits are.
package luavalidate

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/metrics"
	"strings"
	"sync"
	"time"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	plua "github.com/portico-gw/portico/internal/proxy/filters/lua"
)

// Limits bound a Strict run.
type Limits struct {
	// Timeout is the wall time of the whole run (top level and both entry
	// points). A script that needs more on a mock stream would stall real
	// requests.
	Timeout time.Duration
	// MaxAlloc is the number of bytes the run may allocate.
	MaxAlloc uint64
}

// DefaultLimits are generous for any real script (which runs in
// microseconds) and stop loops and allocation bombs quickly.
var DefaultLimits = Limits{Timeout: 250 * time.Millisecond, MaxAlloc: 64 << 20}

// Validator validates scripts and caches verdicts, so a translation that
// sees the same script again (every reload) does not run it again.
type Validator struct {
	Limits Limits

	mu    sync.Mutex
	cache map[[32]byte]error
	order [][32]byte
	// run serializes Strict runs: the allocation limit reads a process-wide
	// counter, which is only meaningful for one run at a time.
	run sync.Mutex
}

const cacheSize = 4096

// Default is the process-wide validator.
var Default = &Validator{Limits: DefaultLimits}

// Validate checks code under mode with the given filter context (what
// handle:filterContext() returns).
func Validate(code string, mode egv1a1.LuaValidation, filterContext map[string]any) error {
	return Default.Validate(code, mode, filterContext)
}

// Validate checks one script.
func (v *Validator) Validate(code string, mode egv1a1.LuaValidation, filterContext map[string]any) error {
	if mode == "" {
		mode = egv1a1.LuaValidationStrict
	}
	if mode == egv1a1.LuaValidationDisabled {
		return nil
	}
	key := cacheKey(code, mode, filterContext)
	v.mu.Lock()
	if err, ok := v.cache[key]; ok {
		v.mu.Unlock()
		return err
	}
	v.mu.Unlock()
	err := v.validate(code, mode, filterContext)
	v.mu.Lock()
	if v.cache == nil {
		v.cache = map[[32]byte]error{}
	}
	if _, ok := v.cache[key]; !ok {
		v.cache[key] = err
		v.order = append(v.order, key)
		if len(v.order) > cacheSize {
			delete(v.cache, v.order[0])
			v.order = v.order[1:]
		}
	}
	v.mu.Unlock()
	return err
}

func cacheKey(code string, mode egv1a1.LuaValidation, fc map[string]any) [32]byte {
	b, _ := json.Marshal(fc) // maps marshal with sorted keys
	return sha256.Sum256([]byte(string(mode) + "\x00" + code + "\x00" + string(b)))
}

func (v *Validator) validate(code string, mode egv1a1.LuaValidation, fc map[string]any) error {
	script, err := plua.Compile("<string>", code)
	if err != nil {
		return err
	}
	switch mode {
	case egv1a1.LuaValidationInsecureSyntax:
		return nil
	case egv1a1.LuaValidationStrict:
	default:
		return fmt.Errorf("unknown validation type %q", mode)
	}
	if err := staticCheck(code); err != nil {
		return err
	}
	return v.runMock(script, fc)
}

// runMock runs the script's top level and entry points on a mock stream.
func (v *Validator) runMock(script *plua.Script, fc map[string]any) error {
	v.run.Lock()
	defer v.run.Unlock()
	limits := v.Limits
	if limits.Timeout <= 0 {
		limits = DefaultLimits
	}
	ctx, cancel := context.WithTimeout(context.Background(), limits.Timeout)
	defer cancel()
	overAlloc := watchAllocations(ctx, cancel, limits.MaxAlloc)
	limitErr := func(err error) error {
		switch {
		case overAlloc():
			return fmt.Errorf("the script allocated more than %d MiB on a mock request", limits.MaxAlloc>>20)
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			return fmt.Errorf("the script ran longer than %v on a mock request", limits.Timeout)
		}
		return err
	}

	L, onReq, onResp, err := script.LoadWith(ctx, plua.BoundPatterns)
	if err != nil {
		return limitErr(err)
	}
	defer L.Close()
	if vs := plua.Violations(L); len(vs) > 0 {
		return errors.New(vs[0])
	}
	m := newMockStream(fc)
	for _, entry := range []struct {
		name    string
		defined bool
		resp    bool
	}{{plua.OnRequest, onReq, false}, {plua.OnResponse, onResp, true}} {
		if !entry.defined {
			continue
		}
		err := plua.Call(L, entry.name, &plua.Phase{B: m.phase(entry.resp)})
		if ctx.Err() != nil {
			return limitErr(err)
		}
		if vs := plua.Violations(L); len(vs) > 0 {
			return fmt.Errorf("%s: %s", entry.name, vs[0])
		}
		if err != nil && scriptFault(err) {
			return fmt.Errorf("%s: %s", entry.name, err)
		}
		// Any other error comes from the mock's data; see the package doc.
	}
	return nil
}

// watchAllocations cancels ctx when the process allocates more than max
// bytes from now on. Runs are serialized, so the counter is (nearly) the
// script's own allocation; other goroutines can only make the limit
// stricter, never looser.
func watchAllocations(ctx context.Context, cancel context.CancelFunc, max uint64) func() bool {
	if max == 0 {
		return func() bool { return false }
	}
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return sample[0].Value.Uint64()
	}
	start := read()
	var mu sync.Mutex
	over := false
	go func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if read()-start > max {
					mu.Lock()
					over = true
					mu.Unlock()
					cancel()
					return
				}
			}
		}
	}()
	return func() bool {
		mu.Lock()
		defer mu.Unlock()
		return over
	}
}

// scriptFault tells errors that are the script's own fault (whatever the
// request) from those the mock's data may have caused.
func scriptFault(err error) bool {
	msg := err.Error()
	for _, s := range []string{plua.Violation, plua.APIError, plua.LimitError, "stack overflow", "registry overflow"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
