package jwtauthn

import "sync"

// tokenCacheSize bounds the verified tokens a provider remembers.
const tokenCacheSize = 1024

// tokenCache remembers tokens whose signature verified, with the
// generation of the key set that verified them, so that a client sending
// the same token again costs a map lookup instead of a parse and a
// signature check (Envoy's jwt_cache_config does the same). Time and
// audience are still checked on every request; a new key set (a JWKS
// refresh) invalidates every entry.
type tokenCache struct {
	mu sync.Mutex
	m  map[string]cachedToken
}

type cachedToken struct {
	t   *token
	gen uint64
}

func (c *tokenCache) get(raw string, gen uint64) (*token, bool) {
	c.mu.Lock()
	e, ok := c.m[raw]
	c.mu.Unlock()
	if !ok || e.gen != gen {
		return nil, false
	}
	return e.t, true
}

func (c *tokenCache) put(raw string, t *token, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]cachedToken{}
	}
	if len(c.m) >= tokenCacheSize {
		for k := range c.m { // evict one entry, any
			delete(c.m, k)
			break
		}
	}
	c.m[raw] = cachedToken{t: t, gen: gen}
}
