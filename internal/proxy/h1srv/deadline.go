package h1srv

import "time"

// Read deadlines bound the wait for a request (IdleTimeout) and for its
// head (ReadHeaderTimeout) only. net/http sets one after every response
// and clears it after every head: two runtime timer updates per request.
// Here the idle deadline is kept while it is still within a little slack
// of what it should be, and a deadline left from the head is cleared only
// when something else reads the connection: the request body, the
// disconnect watch, a hijacker. A bodiless request usually costs none.

// deadlineSlack is how much later than its timeout an idle connection
// may be closed, so that the deadline need not move on every request.
func deadlineSlack(d time.Duration) time.Duration { return min(d/16, time.Second) }

// armReadDeadline makes the next reads fail d from now (exact), or
// between d and d plus the slack.
func (c *conn) armReadDeadline(d time.Duration, exact bool) {
	if d <= 0 {
		if !c.deadlineAt.IsZero() {
			c.rwc.SetReadDeadline(time.Time{})
			c.deadlineAt = time.Time{}
		}
		return
	}
	now := time.Now()
	c.lastArmed = now.UnixNano() // a clock reading CloseIdle's order can use for free
	earliest := now.Add(d)
	if !exact && !c.deadlineAt.Before(earliest) && c.deadlineAt.Before(earliest.Add(deadlineSlack(d))) {
		return
	}
	if !exact {
		earliest = earliest.Add(deadlineSlack(d) / 2)
	}
	c.deadlineAt = earliest
	c.rwc.SetReadDeadline(earliest)
}

// headRead leaves the head's deadline in place for the request: the next
// reader that is not looking for a request clears it.
func (c *conn) headRead() {
	if !c.deadlineAt.IsZero() {
		c.staleDeadline.Store(true)
	}
}

// dropStaleDeadline runs before any read of the connection during a
// request, on any goroutine.
func (c *conn) dropStaleDeadline() {
	if c.staleDeadline.Load() && c.staleDeadline.CompareAndSwap(true, false) {
		c.rwc.SetReadDeadline(time.Time{})
	}
}

// requestDone learns whether a reader cleared the deadline; no other
// goroutine reads the connection any more.
func (c *conn) requestDone() {
	if c.handlerDeadline.Swap(false) {
		// Set through http.ResponseController: not for the next request.
		c.rwc.SetReadDeadline(time.Time{})
	}
	if !c.staleDeadline.Swap(false) {
		c.deadlineAt = time.Time{}
	}
}
