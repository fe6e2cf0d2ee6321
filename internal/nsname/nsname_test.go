package nsname

import "testing"

func TestCgroupPath(t *testing.T) {
	for text, want := range map[string]string{
		"0::/system.slice/docker-4f2a.scope\n":                                  "/system.slice/docker-4f2a.scope",
		"12:pids:/kubepods/pod1/abc\n1:name=systemd:/kubepods/pod1/abc\n0::/\n": "/",
		"12:pids:/kubepods/pod1/abc\n":                                          "/kubepods/pod1/abc",
		"":                                                                      "",
	} {
		if got := CgroupPath(text); got != want {
			t.Errorf("CgroupPath(%q) = %q, want %q", text, got, want)
		}
	}
}

func TestScanNamesHost(t *testing.T) {
	names := Scan()
	found := false
	for _, n := range names {
		if n == Host {
			found = true
		}
	}
	if !found {
		t.Errorf("own namespace not named %q: %v", Host, names)
	}
}
