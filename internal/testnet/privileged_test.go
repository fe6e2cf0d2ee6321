package testnet

import (
	"fmt"
	"testing"
)

// fakeTB records Skip and Fatal instead of stopping the goroutine.
type fakeTB struct {
	testing.TB
	skipped, fatal string
}

func (f *fakeTB) Helper()           {}
func (f *fakeTB) Skip(args ...any)  { f.skipped = fmt.Sprint(args...) }
func (f *fakeTB) Fatal(args ...any) { f.fatal = fmt.Sprint(args...) }

func TestRequirePrivileged(t *testing.T) {
	for _, c := range []struct {
		euid        int
		ci          string
		skip, fatal bool
	}{
		{euid: 0, ci: ""},
		{euid: 0, ci: "true"},
		{euid: 1000, ci: "", skip: true},
		{euid: 1000, ci: "false", skip: true},
		{euid: 1000, ci: "true", fatal: true},
	} {
		f := &fakeTB{}
		requirePrivileged(f, c.euid, c.ci)
		if (f.skipped != "") != c.skip || (f.fatal != "") != c.fatal {
			t.Errorf("euid=%d CI=%q: skipped=%q fatal=%q, want skip=%v fatal=%v",
				c.euid, c.ci, f.skipped, f.fatal, c.skip, c.fatal)
		}
	}
}
