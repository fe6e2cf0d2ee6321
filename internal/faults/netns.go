package faults

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// namedNetnsDir is where `ip netns add` (and testnet) put named namespaces.
const namedNetnsDir = "/run/netns"

// Netns is the network namespace a fault is built in, named by the path of
// its nsfs file. The zero value is the caller's own namespace.
type Netns struct {
	Path string // e.g. /run/netns/NAME or /proc/PID/ns/net; "" = current
}

// Named returns the namespace `ip netns` knows as name.
func Named(name string) Netns {
	return Netns{Path: filepath.Join(namedNetnsDir, name)}
}

func (n Netns) String() string {
	if n.Path == "" {
		return "current netns"
	}
	return "netns " + n.Path
}

// Do runs fn on a fresh goroutine locked to its OS thread inside n, and
// waits for it. A namespace belongs to a thread, not a goroutine: sockets
// and links made in fn keep n after Do returns, and no other goroutine ever
// runs in n. fn must not call runtime.Goexit (t.Fatal).
func (n Netns) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		err := errors.New("faults: namespace function did not return (runtime.Goexit?)")
		defer func() { errc <- err }()
		err = n.doLocked(fn)
	}()
	return <-errc
}

func (n Netns) doLocked(fn func() error) (err error) {
	runtime.LockOSThread()
	if n.Path == "" {
		defer runtime.UnlockOSThread()
		return fn()
	}
	target, err := os.Open(n.Path)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("faults: open %v: %w", n, err)
	}
	defer target.Close()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("faults: open own netns: %w", err)
	}
	defer orig.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("faults: enter %v: %w", n, err)
	}
	defer func() {
		if rerr := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); rerr != nil {
			// Stay locked: the runtime ends a thread whose goroutine
			// exits locked, so the foreign namespace dies with it
			// instead of leaking into other goroutines.
			err = errors.Join(err, fmt.Errorf("faults: leave %v: %w", n, rerr))
			return
		}
		runtime.UnlockOSThread()
	}()
	return fn()
}
