// Package netns is dropspot's one place for network namespaces: where the
// named ones live, running code inside one, a namespace's inode and cookie,
// finding every namespace on the host, and reading the --netns forms.
package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	vns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Dir is where named namespaces live (`ip netns add`, testnet): their nsfs
// files are bind-mounted here.
const Dir = "/run/netns"

// Self is the nsfs file of dropspot's own namespace.
const Self = "/proc/self/ns/net"

// Named is the path of the namespace `ip netns` knows as name.
func Named(name string) string { return filepath.Join(Dir, name) }

// CreateNamed makes a namespace and bind-mounts it as Named(name), like
// `ip netns add`, without moving any thread of the caller into it. The
// handle (for netlink.NewHandleAt and NsFd) is the caller's to close.
func CreateNamed(name string) (vns.NsHandle, error) {
	if err := prepare(Dir); err != nil {
		return vns.None(), fmt.Errorf("create netns %s: %w", name, err)
	}
	h := vns.None()
	err := Do("", func() (err error) {
		h, err = vns.NewNamed(name) // enters it; Do brings the thread back
		return err
	})
	if err != nil {
		return vns.None(), fmt.Errorf("create netns %s: %w", name, err)
	}
	return h, nil
}

// DeleteNamed unmounts and removes Named(name); the namespace itself dies
// with its last process, socket or open file.
func DeleteNamed(name string) error { return vns.DeleteNamed(name) }

// prepare makes dir a shared mount point, as `ip netns add` does before it
// mounts a namespace there, and must be done before ours too. ip makes it
// one by bind-mounting dir onto itself recursively, which copies every
// namespace file mounted in it so far: the path then reaches the copy, the
// original stays mounted underneath, and deleting that namespace fails
// with EBUSY (and leaks it). Seen in CI when the first `ip netns add` of a
// fresh machine (the benchmark's) came while other tests' namespaces were
// up. The directory's flock keeps two processes of ours from both finding
// it unprepared and stacking two binds.
func prepare(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close() // and unlocks
	if err := unix.Flock(int(d.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", dir, err)
	}
	err = unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if errors.Is(err, unix.EINVAL) { // not a mount point yet
		if err := unix.Mount(dir, dir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind-mount %s onto itself: %w", dir, err)
		}
		err = unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, "")
	}
	if err != nil {
		return fmt.Errorf("make %s a shared mount: %w", dir, err)
	}
	return nil
}
