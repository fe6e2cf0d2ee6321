package cli

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/dropspot/dropspot/internal/netns"
)

// netnsPath turns a --netns value (the forms of netns.Parse) into a path
// to enter.
func netnsPath(s string) (string, error) {
	ref, err := netns.Parse(s)
	if err != nil {
		return "", fmt.Errorf("--netns: %w", err)
	}
	_, path, err := ref.Resolve()
	return path, err
}

// cgroupNetns finds the network namespace of a cgroup's processes (the
// first one listed: a container's processes share one).
func cgroupNetns(dir string) (string, error) {
	f, err := os.Open(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return "", fmt.Errorf("--filter-cgroup: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if sc.Scan() {
		return "/proc/" + strings.TrimSpace(sc.Text()) + "/ns/net", nil
	}
	return "", fmt.Errorf("--filter-cgroup %s: the cgroup has no process", dir)
}

// interfaceIndex looks a device name up in the namespace at path: an
// ifindex means something only in its own namespace.
func interfaceIndex(path, name string) (uint32, error) {
	var l netlink.Link
	err := netns.Do(path, func() (err error) {
		l, err = netlink.LinkByName(name)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("-i %s in %s: %w", name, path, err)
	}
	return uint32(l.Attrs().Index), nil
}
