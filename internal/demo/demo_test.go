package demo

import (
	"bytes"
	"context"
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
	if n := strings.Count(out.String(), "\n✓ "); n != len(scenario)+len(healthyTraffic) {
		t.Errorf("%d checks passed, want %d:\n%s", n, len(scenario)+len(healthyTraffic), out.String())
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
