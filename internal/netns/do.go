package netns

import (
	"errors"
	"fmt"
	"runtime"

	vns "github.com/vishvananda/netns"
)

// ErrGoexit reports that fn ended its goroutine with runtime.Goexit, which
// is what t.Fatal, t.FailNow and t.Skip do: they belong on the test's own
// goroutine, so inside a namespace function return an error instead.
var ErrGoexit = errors.New("netns: function called runtime.Goexit (t.Fatal or t.Skip inside a namespace function?)")

// Do runs fn on a fresh goroutine locked to its OS thread inside the
// namespace at path ("" = the thread's current one), and waits for it. A
// namespace belongs to a thread, not a goroutine: sockets and links made
// in fn keep the namespace after Do returns, and no other goroutine ever
// runs in it. The thread is put back into the namespace it came from
// afterwards, also when fn moved it elsewhere.
func Do(path string, fn func() error) error { return <-Go(path, fn) }

// Go starts fn as Do does, for long-lived work such as a server loop, and
// returns a channel that receives fn's result once; it is buffered, so
// abandoning it leaks nothing once fn returns.
func Go(path string, fn func() error) <-chan error {
	errc := make(chan error, 1)
	go func() {
		err := ErrGoexit // stays so only if fn never returns
		defer func() { errc <- err }()
		err = doLocked(path, fn)
	}()
	return errc
}

func doLocked(path string, fn func() error) (err error) {
	runtime.LockOSThread()
	orig, err := vns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: current namespace: %w", err)
	}
	defer orig.Close()
	// Runs before orig.Close, and also when fn calls runtime.Goexit.
	defer func() {
		if rerr := vns.Set(orig); rerr != nil {
			// Stay locked: the runtime ends a thread whose goroutine exits
			// locked, so the foreign namespace dies with it instead of
			// leaking into other goroutines.
			err = errors.Join(err, fmt.Errorf("netns: return from %s: %w", path, rerr))
			return
		}
		runtime.UnlockOSThread()
	}()
	if path != "" {
		target, err := vns.GetFromPath(path)
		if err != nil {
			return fmt.Errorf("netns: open %s: %w", path, err)
		}
		defer target.Close()
		if err := vns.Set(target); err != nil {
			return fmt.Errorf("netns: enter %s: %w", path, err)
		}
	}
	return fn()
}
