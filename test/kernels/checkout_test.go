// Package kernels holds the kernel matrix (run.sh, see README.md); its
// test checks how CI runs it.
package kernels

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// ciCheckout is a throwaway git checkout holding .ci/run as it is here and
// a stand-in for the kernel matrix that writes its summary where run.sh
// does (DROPSPOT_KERNEL_RESULTS, else test/kernels/RESULTS.md), and a PATH
// whose apt-get, go and gofmt do nothing, but for `go test`, which runs
// the shell command goTest.
func ciCheckout(t *testing.T, goTest string) (dir string, env []string) {
	t.Helper()
	dir = t.TempDir()
	script, err := os.ReadFile("../../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		".ci/run":                 string(script),
		"test/kernels/run.sh":     "echo '# Kernel matrix results' >\"${DROPSPOT_KERNEL_RESULTS:-$(dirname \"$0\")/RESULTS.md}\"\n",
		"test/kernels/RESULTS.md": "# Kernel matrix results (committed)\n",
	}
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := t.TempDir()
	stubs := map[string]string{
		"apt-get": "exit 0",
		"gofmt":   "exit 0",
		"go":      `if [ "$1" = test ]; then ` + goTest + "; fi; exit 0",
	}
	for name, body := range stubs {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", "."},
		{"-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", "init"}} {
		if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return dir, append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
}

// runCI runs .ci/run in the checkout; it returns its output and whether it
// passed, and git status afterwards.
func runCI(t *testing.T, dir string, env []string) (out string, passed bool, status string) {
	t.Helper()
	cmd := exec.Command("bash", ".ci/run")
	cmd.Dir, cmd.Env = dir, env
	b, err := cmd.CombinedOutput()
	st, serr := exec.Command("git", "-C", dir, "status", "--porcelain", "--untracked-files=all").Output()
	if serr != nil {
		t.Fatal(serr)
	}
	return string(b), err == nil, string(st)
}

// CI leaves the checkout as it found it: the kernel matrix's summary goes
// elsewhere (it rewrote the committed test/kernels/RESULTS.md).
func TestCILeavesCheckoutClean(t *testing.T) {
	dir, env := ciCheckout(t, "true")
	out, passed, status := runCI(t, dir, env)
	if !passed || status != "" {
		t.Errorf("CI passed %v, left the checkout with:\n%s\noutput:\n%s", passed, status, out)
	}
}

// A step that changes the checkout fails CI, and CI says what changed.
func TestCIFailsOnChangedCheckout(t *testing.T) {
	dir, env := ciCheckout(t, "echo stray >left-behind.txt")
	out, passed, _ := runCI(t, dir, env)
	if passed || !strings.Contains(out, "CI changed the checkout") || !strings.Contains(out, "left-behind.txt") {
		t.Errorf("CI passed %v after a step wrote into the checkout:\n%s", passed, out)
	}
}
