package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dropspot/dropspot/internal/faults"
	"github.com/dropspot/dropspot/internal/report"
	"github.com/dropspot/dropspot/internal/testnet"
)

const (
	// etherExperimental is the IEEE's EtherType for local experiments:
	// no protocol handles it, so the receiver drops such frames.
	etherExperimental = 0x88b5
	etherIPv4         = 0x0800
	unparsedFrames    = 10
)

// sendUnparsed makes drops of frames that parse into no flow in B:
// frames that are not IP, and IPv4 frames whose header is no IP header.
func sendUnparsed(t *testing.T, p *testnet.Pair) {
	t.Helper()
	in, err := faults.NewInjector(faults.Named(p.NameA), p.IfA)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if err := in.SendFrames(etherExperimental, make([]byte, 46), unparsedFrames); err != nil {
		t.Fatal(err)
	}
	// Version 5, then zeros: the parser calls it malformed.
	if err := in.SendFrames(etherIPv4, append([]byte{0x55}, make([]byte, 45)...), unparsedFrames); err != nil {
		t.Fatal(err)
	}
}

// A filter that only IP flows can pass excludes drops of frames that are
// not IP or not well-formed IP, everywhere: from -c (which counted them
// and stopped early), the --events stream and the report. Before, `-c 3
// 'udp and port 6001'` stopped after two matching drops and a non-IP one.
func TestFilterExcludesUnparsedDrops(t *testing.T) {
	testnet.RequirePrivileged(t)
	p := testnet.NewPair(t)
	const limit = 5
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	ready := t.TempDir() + "/ready"
	cmd := exec.CommandContext(ctx, binary, "watch", "--ready-file", ready, "--events", "-c", fmt.Sprint(limit), closedPortFilter(p))
	var stdout bytes.Buffer
	stderr := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitReady(t, stderr)
	sendUnparsed(t, p)
	// More than the limit: -c ends the run after the first five.
	if _, err := faults.SendUDP(faults.Named(p.NameA), faults.UDPBurst{Src: p.A4, Dst: netip.AddrPortFrom(p.B4, 9), Count: 2 * limit, Payload: 16}); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("watch: %v\n%s", err, stderr.String())
	}
	if n := eventsToClosedPort(t, stdout.Bytes(), p); n != limit || strings.Count(stdout.String(), "\n") != limit {
		t.Errorf("-c %d wrote %d lines, %d of them drops the filter passes:\n%s", limit, strings.Count(stdout.String(), "\n"), n, stdout.String())
	}
	if strings.Contains(stdout.String(), `"kind"`) || strings.Contains(stderr.String(), "drop of") {
		t.Errorf("drops of frames in no flow passed the filter:\nevents:\n%s\nreport:\n%s", stdout.String(), stderr.String())
	}
}

// Without a filter expression, drops of frames in no flow stay in the
// report; --netns keeps only those of its namespace.
func TestUnparsedDropsWithoutFilter(t *testing.T) {
	testnet.RequirePrivileged(t)
	p := testnet.NewPair(t)
	for netns, want := range map[string]bool{"": true, p.NameB: true, p.NameA: false} {
		args := []string{"--json", "--duration", "2s"}
		if netns != "" {
			args = append(args, "--netns", netns)
		}
		cmd, stdout, stderr := startWatch(t, args...)
		sendUnparsed(t, p)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("watch %v: %v\n%s", args, err, stderr.String())
		}
		var r report.Report
		if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
			t.Fatalf("watch %v: %v", args, err)
		}
		kinds := map[string]uint64{}
		for _, u := range r.Overflow.UnparsedDrops {
			kinds[u.Kind] += u.Count
		}
		got := kinds["not_ip"] >= unparsedFrames && kinds["malformed"] >= unparsedFrames
		if got != want || !want && len(kinds) > 0 {
			t.Errorf("watch %v: unparsed drops %v, want %d of each kind: %v", args, kinds, unparsedFrames, want)
		}
	}
}

// While processes come and go in namespaces of their own (as containers
// do), stderr carries the ready line and nothing else: a namespace gone
// between the scan and the attach is no error, and with --netns no other
// namespace is worth a line. Before, such races printed warnings between
// the lines of the report.
func TestQuietWhileNamespacesComeAndGo(t *testing.T) {
	testnet.RequirePrivileged(t)
	p := testnet.NewPair(t)
	for _, args := range [][]string{{"--json"}, {"--netns", p.NameB}} {
		cmd, stdout, stderr := startWatch(t, append(args, "--duration", "3s")...)
		// Short-lived namespaces until dropspot has reported (bounded).
		churn := exec.Command("bash", "-c", "for i in $(seq 600); do unshare -n sleep 0.005; done")
		if err := churn.Start(); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		churn.Process.Kill()
		churn.Wait()
		if err != nil {
			t.Fatalf("watch %v: %v\n%s", args, err, stderr.String())
		}
		if lines := strings.Split(strings.TrimSpace(stderr.String()), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "dropspot: ready:") {
			t.Errorf("watch %v: stderr has more than the ready line:\n%s", args, stderr.String())
		}
		if !strings.HasPrefix(stdout.String(), "{") && !strings.HasPrefix(stdout.String(), "dropspot: ") {
			t.Errorf("watch %v: stdout does not start with the report:\n%.200s", args, stdout.String())
		}
	}
}
