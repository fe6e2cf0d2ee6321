package netns_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/dropspot/dropspot/internal/netns"
	"github.com/dropspot/dropspot/internal/testnet"
)

// named makes a namespace under a random name and deletes it after t.
func named(t *testing.T) (name string, ino uint32) {
	t.Helper()
	name = fmt.Sprintf("dsns-%06x", rand.Uint32()&0xffffff)
	h, err := netns.CreateNamed(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.Close()
		if err := netns.DeleteNamed(name); err != nil {
			t.Error(err)
		}
	})
	ino, err = netns.Inode(netns.Named(name))
	if err != nil {
		t.Fatal(err)
	}
	return name, ino
}

// Do runs inside the namespace and leaves every other thread, and its
// own afterwards, where they were.
func TestDo(t *testing.T) {
	testnet.RequirePrivileged(t)
	self, err := netns.Inode(netns.Self)
	if err != nil {
		t.Fatal(err)
	}
	name, ino := named(t)
	if ino == self {
		t.Fatalf("new namespace has the host's inode %d", ino)
	}
	for range 2 * runtime.GOMAXPROCS(0) { // reuse of the threads Do locked
		var inside uint32
		if err := netns.Do(netns.Named(name), func() (err error) {
			inside, err = netns.Inode("/proc/thread-self/ns/net")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if inside != ino {
			t.Fatalf("inside Do: netns %d, want %d", inside, ino)
		}
		var after uint32
		if err := netns.Do("", func() (err error) {
			after, err = netns.Inode("/proc/thread-self/ns/net")
			return err
		}); err != nil || after != self {
			t.Fatalf(`Do(""): netns %d (%v), want the host's %d`, after, err, self)
		}
	}
	if err := netns.Do(netns.Named(name), func() error { runtime.Goexit(); return nil }); !errors.Is(err, netns.ErrGoexit) {
		t.Errorf("Goexit inside Do: %v, want ErrGoexit", err)
	}
	if err := netns.Do(netns.Named("dropspot-no-such-netns"), func() error { return nil }); err == nil {
		t.Error("Do entered a namespace that does not exist")
	}
}

// A namespace's cookie is the same through any path and differs from
// another namespace's; an inode is found back as a path to enter.
func TestCookieAndResolve(t *testing.T) {
	testnet.RequirePrivileged(t)
	name, ino := named(t)
	path := netns.Named(name)
	c1, err := netns.Cookie(path)
	if err != nil {
		t.Fatal(err)
	}
	var c2 uint64
	if err := netns.Do(path, func() (err error) { c2, err = netns.CurrentCookie(); return err }); err != nil {
		t.Fatal(err)
	}
	host, err := netns.Cookie(netns.Self)
	if err != nil {
		t.Fatal(err)
	}
	if c1 == 0 || c1 != c2 || c1 == host {
		t.Errorf("cookies: %d and %d for %s, %d for the host", c1, c2, name, host)
	}

	ref, err := netns.Parse(fmt.Sprintf("inode:%d", ino))
	if err != nil {
		t.Fatal(err)
	}
	gotIno, gotPath, err := ref.Resolve()
	if err != nil || gotIno != ino || gotPath != path {
		t.Errorf("Resolve(inode:%d) = %d, %q, %v; want %q", ino, gotIno, gotPath, err, path)
	}
	ref, _ = netns.Parse(name)
	if gotIno, _, err := ref.Resolve(); err != nil || gotIno != ino {
		t.Errorf("Resolve(%s) = %d, %v; want %d", name, gotIno, err, ino)
	}
}
