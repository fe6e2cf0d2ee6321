// Package nsname gives network namespaces readable names: the name `ip
// netns` shows, the container (cgroup) of a process inside, or the process.
package nsname

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/dropspot/dropspot/internal/netns"
)

// Host is the name of the namespace dropspot itself runs in.
const Host = "host"

// Scan names every network namespace it finds, by inode: the host, the
// name under /run/netns, or the process inside (netns.Paths prefers them
// in this order).
func Scan() map[uint32]string {
	names := map[uint32]string{}
	for ino, path := range netns.Paths() {
		switch {
		case path == netns.Self:
			names[ino] = Host
		case strings.HasPrefix(path, netns.Dir+"/"):
			names[ino] = filepath.Base(path)
		default: // /proc/PID/ns/net
			names[ino] = processName(strings.Split(path, "/")[2])
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
