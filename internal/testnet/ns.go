package testnet

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// errGoexit reports that fn ended its goroutine with runtime.Goexit, which is
// what t.Fatal, t.FailNow and t.Skip do. They must be called on the test's
// own goroutine, so inside a namespace function return an error instead.
var errGoexit = errors.New("testnet: function called runtime.Goexit (t.Fatal or t.Skip inside a namespace function?)")

// goLocked runs fn on a new goroutine locked to its OS thread, inside target
// if target is open (otherwise in the thread's current namespace, for fn that
// switch namespaces themselves, like netns.NewNamed). The returned channel
// receives fn's result exactly once and is buffered, so not reading it leaks
// nothing.
func goLocked(target netns.NsHandle, fn func() error) <-chan error {
	errc := make(chan error, 1)
	go func() {
		err := errGoexit // stays so only if fn never returns
		defer func() { errc <- err }()
		err = runLocked(target, fn)
	}()
	return errc
}

// createNamed creates a named namespace (bind-mounted under /run/netns,
// like `ip netns add`). netns.NewNamed moves the calling thread into the
// new namespace; goLocked moves it back.
func createNamed(name string) (netns.NsHandle, error) {
	h := netns.None()
	err := <-goLocked(netns.None(), func() error {
		var err error
		if h, err = netns.NewNamed(name); err != nil {
			return fmt.Errorf("create netns %s: %w", name, err)
		}
		return nil
	})
	return h, err
}

// runLocked locks the calling goroutine to its thread, enters target, runs fn
// and puts the thread back into the namespace it started in before unlocking
// it, so the thread can safely be reused by other goroutines.
func runLocked(target netns.NsHandle, fn func() error) (err error) {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("testnet: get current netns: %w", err)
	}
	defer orig.Close()
	// Runs before orig.Close, and also when fn calls runtime.Goexit.
	defer func() {
		if rerr := netns.Set(orig); rerr != nil {
			// Stay locked: the runtime terminates a thread whose goroutine
			// exits while locked, so the foreign namespace dies with it
			// instead of leaking into unrelated goroutines.
			err = errors.Join(err, fmt.Errorf("testnet: restore netns: %w", rerr))
			return
		}
		runtime.UnlockOSThread()
	}()
	if target.IsOpen() {
		if err := netns.Set(target); err != nil {
			return fmt.Errorf("testnet: enter netns: %w", err)
		}
	}
	return fn()
}
