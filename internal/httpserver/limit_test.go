package httpserver

import (
	"net"
	"sync/atomic"
	"testing"
)

// TestLimitListener: with a cap of one, the second connection is accepted
// only after the first closed, and Close ends a waiting Accept.
func TestLimitListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := LimitListener(inner, 1)
	for range 2 {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	first, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	var firstClosed atomic.Bool
	accepted := make(chan bool)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Close()
		}
		accepted <- err == nil && firstClosed.Load()
	}()
	firstClosed.Store(true)
	first.Close()
	if !<-accepted {
		t.Fatal("the second connection was accepted while the first was open")
	}
	waiting := make(chan error)
	go func() {
		// The slot of the second is free again: take it, then wait.
		c, err := ln.Accept()
		if err != nil {
			waiting <- err
			return
		}
		defer c.Close()
		_, err = ln.Accept()
		waiting <- err
	}()
	c, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ln.Close()
	if err := <-waiting; err == nil {
		t.Fatal("Accept returned a connection after Close")
	}
}
