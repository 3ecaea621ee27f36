package jwtauthn

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/internal/proxy/filters"
)

// maxJWKSBytes bounds a JWKS response.
const maxJWKSBytes = 1 << 20

// remoteJWKS fetches a provider's JWKS through a cluster of the proxy and
// keeps it for cacheDuration. Fetches are single-flight: every request
// that needs the keys while a fetch runs waits for that fetch.
//
// One addition to Envoy: a token whose kid no cached key can match (the
// issuer rotated its keys) triggers one refetch, at most once per
// refetchInterval, instead of failing until the cache expires. A burst of
// such requests shares that one fetch.
type remoteJWKS struct {
	uri, cluster    string
	timeout         time.Duration
	cacheDuration   time.Duration
	refetchInterval time.Duration // also the back-off after a failed fetch
	retries         int           // remote_jwks.retry_policy.num_retries
	now             func() time.Time

	mu        sync.Mutex
	keys      keySet
	fetchedAt time.Time
	expires   time.Time
	failedAt  time.Time
	inflight  *fetchCall
	gen       uint64 // incremented with every new key set

	fetches atomic.Int64 // fetches started, for tests and benchmarks
}

type fetchCall struct {
	done chan struct{}
	keys keySet
	err  error
}

// generation is the current key set's generation, and whether it is
// still fresh (a cached token is trusted only while the set that verified
// it is in force).
func (r *remoteJWKS) generation() (uint64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gen, r.keys != nil && r.now().Before(r.expires)
}

// keysFor returns the keys to verify t with: the cached set while it is
// fresh (and, when t's kid is unknown to it, after one refetch), or a new
// fetch. The fetch runs on its own deadline, not the request's: other
// requests may be waiting for it.
func (r *remoteJWKS) keysFor(ctx context.Context, t *token, ups filters.Upstreams) (keySet, error) {
	r.mu.Lock()
	now := r.now()
	fresh := r.keys != nil && now.Before(r.expires)
	switch {
	case fresh && r.keys.hasKid(t.kid):
		ks := r.keys
		r.mu.Unlock()
		return ks, nil
	case fresh && now.Sub(r.fetchedAt) < r.refetchInterval && r.inflight == nil:
		// The set was fetched moments ago and still lacks the kid.
		ks := r.keys
		r.mu.Unlock()
		return ks, nil
	case !fresh && r.inflight == nil && !r.failedAt.IsZero() && now.Sub(r.failedAt) < r.refetchInterval:
		r.mu.Unlock()
		return nil, fmt.Errorf("%s (last attempt failed %s ago)", StatusJwksFetchFail, now.Sub(r.failedAt).Round(time.Millisecond))
	}
	c := r.inflight
	if c == nil {
		c = &fetchCall{done: make(chan struct{})}
		r.inflight = c
		r.fetches.Add(1)
		go r.fetch(c, ups)
	}
	r.mu.Unlock()
	select {
	case <-c.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if c.err != nil {
		return nil, c.err
	}
	return c.keys, nil
}

func (r *remoteJWKS) fetch(c *fetchCall, ups filters.Upstreams) {
	ks, err := r.get(ups)
	r.mu.Lock()
	now := r.now()
	if err != nil {
		r.failedAt = now
		// A failed refetch leaves a set that is still fresh in place.
		if r.keys != nil && now.Before(r.expires) {
			ks, err = r.keys, nil
		}
	} else {
		r.keys, r.fetchedAt, r.expires, r.failedAt = ks, now, now.Add(r.cacheDuration), time.Time{}
		r.gen++
	}
	c.keys, c.err = ks, err
	r.inflight = nil
	r.mu.Unlock()
	close(c.done)
}

// get fetches the set, trying again on errors and 5xx answers as the
// retry policy allows.
func (r *remoteJWKS) get(ups filters.Upstreams) (keySet, error) {
	ks, err := r.getOnce(ups)
	for i := 0; i < r.retries && err != nil && retryable(err); i++ {
		ks, err = r.getOnce(ups)
	}
	return ks, err
}

// fetchError is a failed fetch; parse errors are not worth a retry.
type fetchError struct {
	err   error
	retry bool
}

func (e *fetchError) Error() string { return e.err.Error() }

func retryable(err error) bool {
	fe, ok := err.(*fetchError)
	return ok && fe.retry
}

func (r *remoteJWKS) getOnce(ups filters.Upstreams) (keySet, error) {
	if ups == nil {
		return nil, fmt.Errorf("%s: no clusters", StatusJwksFetchFail)
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	u, err := url.Parse(r.uri)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", StatusJwksFetchFail, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", StatusJwksFetchFail, err)
	}
	req.Host = u.Host
	resp, err := ups.RoundTrip(r.cluster, req)
	if err != nil {
		return nil, &fetchError{fmt.Errorf("%s: %v", StatusJwksFetchFail, err), true}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &fetchError{fmt.Errorf("%s: %s answered %d", StatusJwksFetchFail, r.uri, resp.StatusCode), resp.StatusCode >= 500}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", StatusJwksFetchFail, err)
	}
	if len(b) > maxJWKSBytes {
		return nil, fmt.Errorf("%s: JWKS larger than %d bytes", StatusJwksFetchFail, maxJWKSBytes)
	}
	ks, err := parseJWKS(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", StatusJwksFetchFail, err)
	}
	return ks, nil
}
