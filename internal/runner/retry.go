package runner

import (
	"context"
	"maps"
	"slices"
	"time"
)

// A fleet an extension server failed (failOpen false) keeps its last good
// configuration, or serves nothing when it never had one: the README's
// two commands start the extension server and Portico side by side, and
// the server may come up second. Its own retries (service.retry: 4
// attempts within a second) do not cover that, so the runner translates
// again on its own, with back-off, until the fleet is served. Only
// extension failures are retried: every other failure is a function of
// the input and comes back identical until the files change.
const (
	retryFirst = time.Second
	retryMax   = 30 * time.Second
)

// retrier is the retry timer, owned by the loop goroutine.
type retrier struct {
	timer   *time.Timer
	at      time.Time
	backoff time.Duration
}

// due fires when a retry is due (never when none is scheduled).
func (rt *retrier) due() <-chan time.Time {
	if rt.timer == nil {
		return nil
	}
	return rt.timer.C
}

// extFailedFleets lists the fleets waiting for an extension server.
func (r *Runner) extFailedFleets() []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(r.fleets)) {
		if r.fleets[k].extFailed {
			out = append(out, k)
		}
	}
	return out
}

// scheduleRetry arms the timer after a translation: when some fleet
// waits for an extension server and no retry is pending; it disarms it
// and resets the back-off when none does.
func (r *Runner) scheduleRetry() {
	rt := &r.retry
	if len(r.extFailedFleets()) == 0 {
		if rt.timer != nil {
			rt.timer.Stop()
		}
		*rt = retrier{}
		return
	}
	if rt.timer != nil {
		return
	}
	if rt.backoff == 0 {
		rt.backoff = retryFirst
	}
	rt.timer, rt.at = time.NewTimer(rt.backoff), time.Now().Add(rt.backoff)
}

// retryFailed translates the served input again for the fleets an
// extension server failed; the next wait doubles, up to retryMax.
func (r *Runner) retryFailed(ctx context.Context) {
	r.retry.timer = nil
	r.retry.backoff = min(2*r.retry.backoff, retryMax)
	fleets := r.extFailedFleets()
	if len(fleets) == 0 || r.last.Set == nil {
		return
	}
	r.log.Info("retrying the extension servers", "fleets", fleets)
	r.metrics.extensionRetries.Inc()
	r.serve(ctx, r.last.Set)
}

// retryNote says when the next attempt is, for messages.
func (r *Runner) retryNote() string {
	if r.retry.timer == nil {
		return ""
	}
	return "; the extension server is tried again in " + time.Until(r.retry.at).Round(100*time.Millisecond).String()
}
