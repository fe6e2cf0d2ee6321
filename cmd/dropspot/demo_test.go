package main

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/dropspot/dropspot/internal/netns"
	"github.com/dropspot/dropspot/internal/testnet"
)

// `dropspot demo | head -1`: the closed pipe stops the demo, and the
// namespaces it made are removed all the same.
func TestDemoIntoClosedPipe(t *testing.T) {
	testnet.RequirePrivileged(t)
	cmd := exec.Command(binary, "demo")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	first, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("first line: %v", err)
	}
	out.Close()
	// "dropspot demo: namespaces NAME_A and NAME_B, ..."
	fields := strings.Fields(strings.TrimPrefix(first, "dropspot demo: namespaces "))
	if len(fields) < 3 || fields[1] != "and" {
		t.Fatalf("unexpected first line %q", first)
	}
	names := []string{fields[0], strings.TrimSuffix(fields[2], ",")}
	if err := cmd.Wait(); err == nil {
		t.Error("demo with a closed stdout exited 0")
	}
	for _, n := range names {
		if _, err := os.Stat(netns.Named(n)); !os.IsNotExist(err) {
			t.Errorf("namespace %s left behind (stat: %v)", n, err)
		}
	}
}
