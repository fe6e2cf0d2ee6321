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
	procs, _ := filepath.Glob("/proc/[0-9]*/ns/net")
	for _, p := range procs {
		ino, ok := inode(p)
		if !ok {
			continue
		}
		if _, seen := names[ino]; seen {
			continue
		}
		pid := strings.Split(p, "/")[2]
		names[ino] = processName(pid)
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
