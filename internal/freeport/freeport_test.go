package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestPortsAreBindableOutsideTheEphemeralRangeAndNeverRepeated(t *testing.T) {
	seen := map[int]bool{}
	for range 200 {
		p, err := Get()
		if err != nil {
			t.Fatal(err)
		}
		if p < lowest || p >= ephemeralLow() {
			t.Fatalf("port %d outside [%d, %d)", p, lowest, ephemeralLow())
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
	p, _ := Get()
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		t.Fatalf("handed-out port not bindable: %v", err)
	}
	l.Close()
}

func TestABoundPortIsNotHandedOut(t *testing.T) {
	// Occupy most of a narrow slice is impractical; instead bind ports the
	// generator could pick and check that none of them comes back.
	var held []net.Listener
	busy := map[int]bool{}
	for p := lowest; p < lowest+200; p++ {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err == nil {
			held = append(held, l)
			busy[p] = true
		}
	}
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for range 500 {
		p, err := Get()
		if err != nil {
			t.Fatal(err)
		}
		if busy[p] {
			t.Fatalf("port %d is bound but was handed out", p)
		}
	}
}
