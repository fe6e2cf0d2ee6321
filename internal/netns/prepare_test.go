package netns_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/dropspot/dropspot/internal/netns"
	"github.com/dropspot/dropspot/internal/testnet"
)

// TestPrepareKeepsNamespacesDeletable plays, in a directory of its own,
// what a fresh machine saw in CI: a namespace file mounted by us, then the
// first `ip netns add`, which makes the directory a mount point (Prepare
// is the same step). Prepared before our mount, the namespace deletes as
// usual; unprepared, it cannot be deleted (EBUSY), which shows the setup
// reproduces the fault.
func TestPrepareKeepsNamespacesDeletable(t *testing.T) {
	testnet.RequirePrivileged(t)
	for _, prepared := range []bool{true, false} {
		dir := t.TempDir()
		t.Cleanup(func() { unmountAll(dir) })
		if prepared {
			if err := netns.Prepare(dir); err != nil {
				t.Fatal(err)
			}
		}
		file := filepath.Join(dir, "ns")
		if err := os.WriteFile(file, nil, 0o444); err != nil {
			t.Fatal(err)
		}
		// our namespace: an nsfs file bind-mounted, as CreateNamed does
		if err := unix.Mount(netns.Self, file, "none", unix.MS_BIND, ""); err != nil {
			t.Fatal(err)
		}
		if err := netns.Prepare(dir); err != nil { // `ip netns add`
			t.Fatal(err)
		}
		err := unix.Unmount(file, unix.MNT_DETACH)
		if err == nil {
			err = os.Remove(file)
		}
		switch {
		case prepared && err != nil:
			t.Fatalf("prepared first: delete our namespace: %v", err)
		case !prepared && !errors.Is(err, unix.EBUSY):
			t.Fatalf("not prepared first: delete our namespace: %v, want EBUSY (the fault this guards against)", err)
		}
	}
}

// TestCreateNamedPreparesDir: our namespaces are made under a prepared
// Dir, a shared mount point.
func TestCreateNamedPreparesDir(t *testing.T) {
	testnet.RequirePrivileged(t)
	named(t)
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(info), "\n") {
		// id parent dev root MOUNTPOINT options [optional fields] - ...
		f := strings.Fields(line)
		if len(f) < 7 || f[4] != netns.Dir {
			continue
		}
		for _, opt := range f[6:] {
			if strings.HasPrefix(opt, "shared:") {
				return
			}
		}
		t.Fatalf("%s is a mount point but not shared: %s", netns.Dir, line)
	}
	t.Fatalf("%s is not a mount point after CreateNamed", netns.Dir)
}

// unmountAll detaches the directory's mounts, top layer first, then the
// ones the top hid, and removes its files.
func unmountAll(dir string) {
	for range 3 {
		_ = unix.Unmount(dir, unix.MNT_DETACH)
		_ = unix.Unmount(filepath.Join(dir, "ns"), unix.MNT_DETACH)
	}
	_ = os.Remove(filepath.Join(dir, "ns"))
}
