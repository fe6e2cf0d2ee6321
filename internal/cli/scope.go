package cli

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/dropspot/dropspot/internal/nsname"
)

// netnsPath turns a --netns value into a path to enter: a path as given,
// a name of /run/netns, or inode:N (looked up among the namespaces found).
func netnsPath(s string) (string, error) {
	if ino, err := strconv.ParseUint(strings.TrimPrefix(s, "inode:"), 10, 32); err == nil {
		if p, ok := nsname.Paths()[ino]; ok {
			return p, nil
		}
		return "", fmt.Errorf("--netns %s: no process or /run/netns entry holds that namespace", s)
	}
	if !strings.Contains(s, "/") {
		return filepath.Join("/run/netns", s), nil
	}
	return s, nil
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
	h, err := netns.GetFromPath(path)
	if err != nil {
		return 0, fmt.Errorf("-i %s: namespace %s: %w", name, path, err)
	}
	defer h.Close()
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		return 0, fmt.Errorf("-i %s: %w", name, err)
	}
	defer nl.Close()
	l, err := nl.LinkByName(name)
	if err != nil {
		return 0, fmt.Errorf("-i %s: no such device in %s", name, path)
	}
	return uint32(l.Attrs().Index), nil
}
