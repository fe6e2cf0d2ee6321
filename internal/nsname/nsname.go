// Package nsname gives network namespaces readable names: the name `ip
// netns` shows, the container (cgroup) of a process inside, or the process.
package nsname

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Host is the name of the namespace dropspot itself runs in.
const Host = "host"

// Paths finds the network namespaces on the host, by inode, with a path
// to enter each: the named ones (`ip netns add`) and those of every
// process. /proc is listed and each /proc/PID/ns/net stat'ed directly:
// globbing would list /proc/PID/ns, which for other users' processes needs
// more privilege than reaching the namespace file itself.
func Paths() map[uint64]string {
	found := map[uint64]string{}
	add := func(path string) {
		if ino, ok := inode(path); ok {
			if _, seen := found[uint64(ino)]; !seen {
				found[uint64(ino)] = path
			}
		}
	}
	add("/proc/self/ns/net")
	if named, err := os.ReadDir("/run/netns"); err == nil {
		for _, e := range named {
			add(filepath.Join("/run/netns", e.Name()))
		}
	}
	for _, pid := range pids() {
		add("/proc/" + pid + "/ns/net")
	}
	return found
}

// pids lists the process ids in /proc.
func pids() []string {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if name := e.Name(); name[0] >= '0' && name[0] <= '9' {
			out = append(out, name)
		}
	}
	return out
}

// Scan names every network namespace it finds, by inode.
func Scan() map[uint32]string {
	names := map[uint32]string{}
	if ino, ok := inode("/proc/self/ns/net"); ok {
		names[ino] = Host
	}
	if named, err := os.ReadDir("/run/netns"); err == nil {
		for _, e := range named {
			if ino, ok := inode(filepath.Join("/run/netns", e.Name())); ok {
				if _, seen := names[ino]; !seen {
					names[ino] = e.Name()
				}
			}
		}
	}
	for _, pid := range pids() {
		ino, ok := inode("/proc/" + pid + "/ns/net")
		if !ok {
			continue
		}
		if _, seen := names[ino]; !seen {
			names[ino] = processName(pid)
		}
	}
	return names
}

// processName is the container cgroup of a process when it has one
// (".../docker-<id>.scope", "/kubepods/..."), else "pid:PID(comm)".
func processName(pid string) string {
	if cg, err := os.ReadFile("/proc/" + pid + "/cgroup"); err == nil {
		if path := CgroupPath(string(cg)); path != "" && path != "/" {
			return path
		}
	}
	comm, _ := os.ReadFile("/proc/" + pid + "/comm")
	return fmt.Sprintf("pid:%s(%s)", pid, strings.TrimSpace(string(comm)))
}

// CgroupPath picks the cgroup v2 path ("0::/path") out of /proc/PID/cgroup
// text, else the first v1 path.
func CgroupPath(text string) string {
	first := ""
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			return parts[2]
		}
		if first == "" {
			first = parts[2]
		}
	}
	return first
}

func inode(path string) (uint32, bool) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, false
	}
	return uint32(st.Ino), true
}
