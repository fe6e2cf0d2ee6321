package hookplan

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// CgroupV2Root finds where the cgroup v2 hierarchy is mounted: not always
// /sys/fs/cgroup (hybrid layouts mount it at /sys/fs/cgroup/unified).
func CgroupV2Root() (string, error) {
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		return "", err
	}
	defer f.Close()
	return cgroupV2Mount(f)
}

func cgroupV2Mount(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 3 && f[2] == "cgroup2" {
			return f[1], nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("no cgroup2 file system is mounted")
}
