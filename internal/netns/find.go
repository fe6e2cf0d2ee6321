package netns

import "os"

// Paths finds the network namespaces on the host, by inode, with a path
// to enter each, preferring (in this order) Self, a named one (Dir) and
// the first process's /proc/PID/ns/net. /proc is listed and each
// /proc/PID/ns/net stat'ed directly: globbing would list /proc/PID/ns,
// which for other users' processes needs more privilege than reaching the
// namespace file itself.
func Paths() map[uint32]string {
	found := map[uint32]string{}
	add := func(path string) {
		if ino, err := Inode(path); err == nil {
			if _, seen := found[ino]; !seen {
				found[ino] = path
			}
		}
	}
	add(Self)
	if named, err := os.ReadDir(Dir); err == nil {
		for _, e := range named {
			add(Named(e.Name()))
		}
	}
	for _, pid := range pids() {
		add(procPath(pid))
	}
	return found
}

// procPath is the nsfs file of a process's network namespace.
func procPath(pid string) string { return "/proc/" + pid + "/ns/net" }

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
