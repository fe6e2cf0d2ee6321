package netns

import "testing"

func TestParse(t *testing.T) {
	for in, want := range map[string]Ref{
		"inode:4026531840": {Inode: 4026531840},
		"4026531840":       {Inode: 4026531840},
		"/proc/42/ns/net":  {Path: "/proc/42/ns/net"},
		"/run/netns/blue":  {Path: "/run/netns/blue"},
		"./blue":           {Path: "./blue"},
		"blue":             {Path: "/run/netns/blue"},
		"inodes":           {Path: "/run/netns/inodes"},
	} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", ".", "..", "0", "inode:0", "inode:", "inode:x", "inode:4294967296", "inode:-1"} {
		if got, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", in, got)
		}
	}
}

func TestResolveNotNamespace(t *testing.T) {
	if _, _, err := (Ref{Path: "/proc/self/status"}).Resolve(); err == nil {
		t.Error("a regular file resolved as a namespace")
	}
	if _, _, err := (Ref{Path: "/nonexistent/ns"}).Resolve(); err == nil {
		t.Error("a missing file resolved as a namespace")
	}
}
