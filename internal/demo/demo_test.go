package demo

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/dropspot/dropspot/internal/report"
	"github.com/dropspot/dropspot/internal/testnet"
)

// The demo finds every fault with its reason and stage, in the exact
// number its ground truth gives, and no loss on the healthy traffic.
func TestDemoFindsEveryFault(t *testing.T) {
	testnet.RequirePrivileged(t)
	names, err := report.LoadNamer()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Run(context.Background(), &out, names, nil); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	// The TCP loss cases: 3 checks with the router observed, 2 without.
	if n, want := strings.Count(out.String(), "\n✓ "), len(scenario)+len(healthyTraffic)+5; n != want {
		t.Errorf("%d checks passed, want %d:\n%s", n, want, out.String())
	}
	for _, verdict := range []string{"after drops on this host (netns ", "0 after drops on this host, "} {
		if !strings.Contains(out.String(), verdict) {
			t.Errorf("no TCP verdict %q:\n%s", verdict, out.String())
		}
	}
	checkShown(t, out.String())
}

// checkShown checks what the demo's report shows: the five connections to
// a closed port as one entry, the healthy TCP connection and the ping
// (ICMP named by type), no funnel of zeros, and every drop explained.
func checkShown(t *testing.T, out string) {
	t.Helper()
	var healthyTCP, closedPort int
	for _, block := range strings.Split(out, "\n\n") {
		head, _, _ := strings.Cut(block, "\n")
		switch {
		case strings.Contains(head, ":8080  netns"):
			closedPort++
			if !strings.HasPrefix(head, "5 connections  tcp ") || !strings.Contains(block, "NO_SOCKET at tcp_v4_rcv+0x99: 5 ") && !strings.Contains(block, "NO_SOCKET at tcp_v4_rcv+0x99: 5\n") {
				t.Errorf("the closed port's five connections are not one entry:\n%s", block)
			}
		case strings.HasPrefix(head, "conn ") && strings.Contains(head, " tcp ") && !strings.Contains(block, "✗"):
			healthyTCP++
		}
	}
	if closedPort != 1 || healthyTCP == 0 {
		t.Errorf("%d entries of the closed port (want 1), %d of the healthy connection (want some):\n%s", closedPort, healthyTCP, out)
	}
	for _, want := range []string{"icmp echo-request ", "icmp echo-reply "} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the report:\n%s", want, out)
		}
	}
	lines := strings.Split(out, "\n")
	zeros := regexp.MustCompile(`^  [a-z0-9._]+ 0( → [a-z0-9._]+ 0)*$`)
	for i, l := range lines {
		if zeros.MatchString(l) {
			t.Errorf("a funnel of zeros: %q", l)
		}
		if strings.Contains(l, "✗") && (i+1 == len(lines) || !strings.HasPrefix(lines[i+1], "      ")) {
			t.Errorf("a drop without explanation: %q", l)
		}
	}
}

// An interrupted demo stops early and still removes what it made.
func TestDemoCancelled(t *testing.T) {
	testnet.RequirePrivileged(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	if err := Run(ctx, &out, report.Namer{}, nil); err == nil {
		t.Fatal("a cancelled demo reported success")
	}
	if strings.Contains(out.String(), "✓") {
		t.Errorf("a cancelled demo ran checks:\n%s", out.String())
	}
}
