package faults

import "github.com/dropspot/dropspot/internal/netns"

// Netns is the network namespace a fault is built in, named by the path of
// its nsfs file. The zero value is the caller's own namespace.
type Netns struct {
	Path string // e.g. /run/netns/NAME or /proc/PID/ns/net; "" = current
}

// Named returns the namespace `ip netns` knows as name.
func Named(name string) Netns {
	return Netns{Path: netns.Named(name)}
}

func (n Netns) String() string {
	if n.Path == "" {
		return "current netns"
	}
	return "netns " + n.Path
}

// Do runs fn inside n as netns.Do does: on its own locked thread, so
// sockets and links made in fn keep n. fn must not call runtime.Goexit
// (t.Fatal).
func (n Netns) Do(fn func() error) error {
	return netns.Do(n.Path, fn)
}
