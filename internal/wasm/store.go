package wasm

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/portico-gw/portico/internal/gatewayapi"
)

// Background retry of modules that failed (Envoy Gateway retries only when
// the policy changes, its issue #5619).
const (
	DefaultRetryBase = 10 * time.Second
	DefaultRetryMax  = 5 * time.Minute
)

// StoreOptions configure a Store.
type StoreOptions struct {
	Fetcher Fetcher
	Cache   *Cache
	// ServingBase is the wasm server's URL as proxies reach it, e.g.
	// http://127.0.0.1:18002.
	ServingBase string
	// RetryBase and RetryMax space the background retries of a failed
	// module (doubling); defaults DefaultRetryBase and DefaultRetryMax.
	RetryBase, RetryMax time.Duration
	// OnChange is called, from a Store goroutine, when a module's outcome
	// changed (downloaded, or failed for the first time): translate again.
	OnChange func()
	Logger   *slog.Logger
	// RecheckEvery is how often the registry is asked again whether each
	// image's credentials may still pull it (DefaultRecheckEvery).
	RecheckEvery time.Duration
}

// Store fetches the modules the policies use, once each, and remembers
// the outcome. It owns its download goroutines; they end with the context
// given to NewStore.
type Store struct {
	ctx  context.Context
	o    StoreOptions
	salt []byte

	mu      sync.Mutex
	entries map[gatewayapi.WasmCode]*entry
	// files maps serving paths to cache files; paths stay valid after
	// their policy is gone, as proxies may still be loading them.
	files map[string]string
	// permits records when the registry last let a credential pull an
	// image (see image.go).
	permits map[permitKey]time.Time
}

type entry struct {
	done    chan struct{} // closed once the first round settled
	settled bool
	mod     gatewayapi.WasmModule
	err     error
	retry   *time.Timer
	backoff time.Duration
	gone    bool
	// file is the cache file of mod: a file in use is never evicted.
	file string
}

// NewStore prepares a store over an on-disk cache.
func NewStore(ctx context.Context, o StoreOptions) (*Store, error) {
	if o.Cache == nil {
		o.Cache = &Cache{Dir: DefaultCacheDir()}
	}
	if o.RetryBase <= 0 {
		o.RetryBase = DefaultRetryBase
	}
	if o.RetryMax <= 0 {
		o.RetryMax = DefaultRetryMax
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.RecheckEvery <= 0 {
		o.RecheckEvery = DefaultRecheckEvery
	}
	salt, err := o.Cache.salt()
	if err != nil {
		return nil, fmt.Errorf("wasm cache %s: %w", o.Cache.Dir, err)
	}
	s := &Store{ctx: ctx, o: o, salt: salt, entries: map[gatewayapi.WasmCode]*entry{}, files: map[string]string{},
		permits: map[permitKey]time.Time{}}
	if o.Cache.InUse == nil {
		o.Cache.InUse = s.inUse
	}
	return s, nil
}

// Ensure starts downloading the codes not seen yet and forgets the ones
// no longer used (their background retries stop).
func (s *Store) Ensure(codes []gatewayapi.WasmCode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := make(map[gatewayapi.WasmCode]bool, len(codes))
	for _, c := range codes {
		want[c] = true
		if s.entries[c] != nil {
			continue
		}
		e := &entry{done: make(chan struct{}), backoff: s.o.RetryBase}
		s.entries[c] = e
		go s.fetch(c, e, s.o.Fetcher)
	}
	for c, e := range s.entries {
		if !want[c] {
			e.gone = true
			if e.retry != nil {
				e.retry.Stop()
			}
			delete(s.entries, c)
		}
	}
}

// Wait blocks until every code has an outcome or ctx ends.
func (s *Store) Wait(ctx context.Context, codes []gatewayapi.WasmCode) {
	for _, c := range codes {
		s.mu.Lock()
		e := s.entries[c]
		s.mu.Unlock()
		if e == nil {
			continue
		}
		select {
		case <-e.done:
		case <-ctx.Done():
			return
		}
	}
}

// fetch runs one download of c and records its outcome.
func (s *Store) fetch(c gatewayapi.WasmCode, e *entry, f Fetcher) {
	mod, file, err := s.load(c, f)
	s.mu.Lock()
	if e.gone {
		s.mu.Unlock()
		return
	}
	first := !e.settled
	changed := first || (err == nil) != (e.err == nil)
	if err == nil || first {
		// A failed retry keeps the first error: its message would
		// otherwise change on every retry and so would the status.
		e.mod, e.err, e.file = mod, err, file
	}
	e.settled = true
	if err != nil && s.ctx.Err() == nil {
		delay := e.backoff
		e.backoff = min(2*e.backoff, s.o.RetryMax)
		retry := s.o.Fetcher
		retry.Attempts = 1 // each retry is one download; the timer spaces them
		e.retry = time.AfterFunc(delay, func() { s.fetch(c, e, retry) })
	}
	s.mu.Unlock()
	if first {
		close(e.done)
	}
	if err != nil {
		s.o.Logger.Warn("wasm: module download failed; retrying in the background", "url", c.URL, "err", err)
	} else if changed {
		s.o.Logger.Info("wasm: module ready", "url", c.URL, "sha256", mod.SHA256)
	}
	if err == nil && c.Image {
		s.scheduleRecheck(c, e)
	}
	if changed && s.o.OnChange != nil {
		s.o.OnChange()
	}
}

// load returns the module of c and its cache file: from the cache (when
// the policy names its checksum) or from its URL.
func (s *Store) load(c gatewayapi.WasmCode, f Fetcher) (gatewayapi.WasmModule, string, error) {
	if c.Image {
		return s.loadImage(c, f)
	}
	if c.SHA256 != "" {
		if b, ok := s.o.Cache.Get(c.URL, c.SHA256); ok && checkABI(b) == nil {
			p := s.o.Cache.Path(c.URL, c.SHA256)
			return s.serve(c, c.SHA256, p), p, nil
		}
	}
	m, err := f.Fetch(s.ctx, c.URL, c.SHA256, c.CACert)
	if err != nil {
		return gatewayapi.WasmModule{}, "", err
	}
	p, err := s.o.Cache.Put(c.URL, m.SHA256, m.Bytes)
	if err != nil {
		return gatewayapi.WasmModule{}, "", err
	}
	return s.serve(c, m.SHA256, p), p, nil
}

// inUse reports whether a live entry's module is the cache file p.
func (s *Store) inUse(p string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.entries {
		if e.file == p {
			return true
		}
	}
	return false
}

// serve registers a cached file under its serving path: padded base64url
// of sha256(url, checksum, salt), as Envoy Gateway names them (with the
// checksum added, so that a path always means the same bytes).
func (s *Store) serve(c gatewayapi.WasmCode, sum, file string) gatewayapi.WasmModule {
	h := sha256.New()
	h.Write([]byte(c.URL))
	h.Write([]byte{0})
	h.Write([]byte(sum))
	h.Write(s.salt)
	name := base64.URLEncoding.EncodeToString(h.Sum(nil)) + ".wasm"
	s.mu.Lock()
	s.files[name] = file
	s.mu.Unlock()
	return gatewayapi.WasmModule{ServingURL: s.o.ServingBase + "/" + name, SHA256: sum}
}

// file is the cache file served at name.
func (s *Store) file(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.files[name]
	return f, ok
}

// Snapshot is the outcome of every known code at one moment: what a
// translation sees. It never changes.
func (s *Store) Snapshot() *Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	sn := &Snapshot{results: make(map[gatewayapi.WasmCode]result, len(s.entries))}
	for c, e := range s.entries {
		if !e.settled {
			sn.results[c] = result{err: fmt.Sprintf("wasm module from %s is still being downloaded", c.URL)}
			continue
		}
		r := result{mod: e.mod}
		if e.err != nil {
			r.err = e.err.Error()
		}
		sn.results[c] = r
	}
	return sn
}

// Snapshot implements gatewayapi.WasmModules.
type Snapshot struct {
	results map[gatewayapi.WasmCode]result
}

type result struct {
	mod gatewayapi.WasmModule
	err string
}

// WasmModule returns the outcome recorded for c.
func (sn *Snapshot) WasmModule(c gatewayapi.WasmCode) (gatewayapi.WasmModule, error) {
	r, ok := sn.results[c]
	if !ok {
		return gatewayapi.WasmModule{}, fmt.Errorf("wasm module from %s was not fetched", c.URL)
	}
	if r.err != "" {
		return gatewayapi.WasmModule{}, errors.New(r.err)
	}
	return r.mod, nil
}
