package hookplan

import (
	"strings"
	"testing"
)

func TestCgroupV2Mount(t *testing.T) {
	hybrid := `tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
`
	got, err := cgroupV2Mount(strings.NewReader(hybrid))
	if err != nil || got != "/sys/fs/cgroup/unified" {
		t.Errorf("hybrid: got %q, %v", got, err)
	}
	if _, err := cgroupV2Mount(strings.NewReader("cgroup /sys/fs/cgroup/cpu cgroup rw 0 0\n")); err == nil {
		t.Error("v1-only layout: want an error")
	}
}
