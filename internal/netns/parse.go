package netns

import (
	"fmt"
	"strconv"
	"strings"
)

// Ref is a namespace as a user names it (--netns): by inode number or by
// the path of its nsfs file.
type Ref struct {
	Inode uint32 // "inode:N" or "N"; 0 when named by Path
	Path  string // a path as given, or Named(NAME) for a bare name
}

// Parse reads the --netns forms: "inode:N" or a bare number N (the inode
// /proc/PID/ns/net shows), a path such as /proc/PID/ns/net or
// /run/netns/NAME, or a bare NAME of /run/netns. It touches no file.
func Parse(s string) (Ref, error) {
	num, byInode := strings.CutPrefix(s, "inode:")
	if n, err := strconv.ParseUint(num, 10, 32); err == nil {
		if n == 0 {
			return Ref{}, fmt.Errorf("network namespace %q: inode 0 names none", s)
		}
		return Ref{Inode: uint32(n)}, nil
	}
	switch {
	case byInode:
		return Ref{}, fmt.Errorf("network namespace %q: want inode:N with N a 32-bit number", s)
	case s == "" || s == "." || s == "..":
		return Ref{}, fmt.Errorf("network namespace %q: want /proc/PID/ns/net, %s/NAME, NAME or inode:N", s, Dir)
	case strings.Contains(s, "/"):
		return Ref{Path: s}, nil
	}
	return Ref{Path: Named(s)}, nil
}

// Resolve gives the namespace's inode and a path to enter it: for one
// named by inode, the path Paths finds holding it.
func (r Ref) Resolve() (ino uint32, path string, err error) {
	if r.Path == "" {
		if p, ok := Paths()[r.Inode]; ok {
			return r.Inode, p, nil
		}
		return 0, "", fmt.Errorf("network namespace inode:%d: no process or %s entry holds it", r.Inode, Dir)
	}
	ino, err = Inode(r.Path)
	return ino, r.Path, err
}
