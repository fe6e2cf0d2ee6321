package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dropspot/dropspot/internal/testnet"
)

// -w writes every dropped packet to pcapng (mode 0600) with its reason,
// stage and location as the comment; tshark reads it back.
func TestPcapngOfDrops(t *testing.T) {
	testnet.RequirePrivileged(t)
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tshark is not installed")
		}
		t.Skip("tshark is not installed")
	}
	p := testnet.NewPair(t)
	file := filepath.Join(t.TempDir(), "drops.pcapng")
	const n = 9
	cmd, _, stderr := startWatch(t, "-w", file, "-c", "9", "--duration", "20s", "udp and dst port 9")
	f, err := testnet.UDPToClosedPort(p, testnet.A, n, 40, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil { // -c 9 ends it
		t.Fatalf("watch: %v\n%s", err, stderr)
	}
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("pcapng mode %v, want 0600", st.Mode().Perm())
	}
	out, err := exec.Command(tshark, "-r", file, "-T", "fields", "-e", "frame.comment", "-e", "ip.src", "-e", "udp.srcport", "-e", "udp.dstport").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != n {
		t.Fatalf("tshark read %d packets, want %d:\n%s", len(lines), n, out)
	}
	for _, l := range lines {
		fields := strings.Split(l, "\t")
		if len(fields) != 4 || !strings.HasPrefix(fields[0], "NO_SOCKET after l4.rcv at __udp") ||
			fields[1] != f.Src.String() || fields[3] != "9" {
			t.Errorf("packet %q", l)
		}
	}
}

// --events streams one JSON line per drop; --cmd traces while a command
// runs and stops when it ends.
func TestEventsWhileCommandRuns(t *testing.T) {
	testnet.RequirePrivileged(t)
	p := testnet.NewPair(t)
	cmd := exec.Command(binary, "watch", "--events", "--stack", "--cmd", "sleep 2", "udp and port 9")
	var stdout bytes.Buffer
	var stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitReady(t, &stderr)
	if _, err := testnet.UDPToClosedPort(p, testnet.A, 4, 10, true); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("watch --cmd: %v\n%s", err, stderr.String())
	}
	sc := bufio.NewScanner(&stdout)
	events := 0
	for sc.Scan() {
		var ev struct {
			Netns  uint32
			Ifname string
			Flow   struct{ Proto, Dst string }
			Drop   struct{ Reason, Stage string }
			Stack  []string
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("not a JSON line: %q", sc.Text())
		}
		if ev.Netns == p.InodeB && ev.Flow.Dst == p.B6.String() {
			events++
			if ev.Drop.Reason != "NO_SOCKET" || ev.Drop.Stage != "l4.rcv" || ev.Ifname != p.IfB || len(ev.Stack) == 0 {
				t.Errorf("event %s", sc.Text())
			}
		}
	}
	if events != 4 {
		t.Errorf("%d events for our flow, want 4", events)
	}
	if !strings.Contains(stderr.String(), "conn ") {
		t.Errorf("final report should be on stderr with --events:\n%s", stderr.String())
	}
}
