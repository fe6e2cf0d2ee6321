package netns

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Inode is the inode number of the namespace file at path: the number
// /proc/PID/ns/net shows as net:[INODE] and BPF reads as net->ns.inum
// (32 bits there). nsfs reuses the numbers of dead namespaces; Cookie
// does not.
func Inode(path string) (uint32, error) {
	var fs unix.Statfs_t
	if err := unix.Statfs(path, &fs); err != nil {
		return 0, fmt.Errorf("network namespace %s: %w", path, err)
	}
	if fs.Type != unix.NSFS_MAGIC {
		return 0, fmt.Errorf("%s is not a namespace file (want /proc/PID/ns/net, %s/NAME or inode:N)", path, Dir)
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("network namespace %s: %w", path, err)
	}
	return uint32(st.Ino), nil
}

// Cookie is the cookie of the namespace at path (SO_NETNS_COOKIE, 5.14+):
// unique for the life of the system, unlike the inode number.
func Cookie(path string) (uint64, error) {
	var cookie uint64
	err := Do(path, func() error {
		var err error
		cookie, err = CurrentCookie()
		return err
	})
	return cookie, err
}

// CurrentCookie is the cookie of the calling thread's namespace; call it
// inside Do.
func CurrentCookie() (uint64, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	v, err := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
	if err != nil {
		return 0, fmt.Errorf("SO_NETNS_COOKIE: %w", err)
	}
	return v, nil
}
