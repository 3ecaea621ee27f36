package h1srv

import (
	"context"
	"errors"
	"testing"
	"time"
)

// CancelCause ends the request context and everything derived from it,
// keeps the first cause, and Cause reports it as context.Cause would.
func TestRequestContextCancelCause(t *testing.T) {
	x := &reqCtx{c: &conn{}}
	derived, stop := context.WithTimeout(x, time.Minute)
	defer stop()
	if x.Cause() != nil || x.Err() != nil {
		t.Fatalf("live context: cause %v, err %v", x.Cause(), x.Err())
	}
	why := errors.New("stream idle timeout")
	x.CancelCause(why)
	x.CancelCause(errors.New("later"))
	select {
	case <-derived.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a derived context was not cancelled")
	}
	if x.Cause() != why || x.Err() != context.Canceled {
		t.Errorf("cause %v, err %v; want %v, context.Canceled", x.Cause(), x.Err(), why)
	}
	y := &reqCtx{c: &conn{}}
	y.cancel()
	if y.Cause() != context.Canceled {
		t.Errorf("plain cancel: cause %v, want context.Canceled", y.Cause())
	}
}
