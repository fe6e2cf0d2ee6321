package tracer

import (
	"fmt"
	"testing"

	"github.com/dropspot/dropspot/internal/faults"
	"github.com/dropspot/dropspot/internal/flow"
	"github.com/dropspot/dropspot/internal/report"
	"github.com/dropspot/dropspot/internal/stage"
	"github.com/dropspot/dropspot/internal/testnet"
)

// bridgedPath is what a frame a bridge forwards passes in the bridge's
// namespace: the receive of the port it comes in by, the transmit of the
// port it leaves by, and no IP stage.
var bridgedPath = []stage.Stage{stage.RxDriver, stage.RxCore, stage.TxQueue, stage.TxXmit, stage.TxDone}

// expectBridged asserts that flow direction k is marked as bridged from
// b's port A to its port B.
func expectBridged(t *testing.T, snap *flow.Snapshot, k flow.Key, b *testnet.Bridged) {
	t.Helper()
	want := flow.BridgePorts{In: uint32(b.PortAIndex), Out: uint32(b.PortBIndex)}
	if got, ok := snap.Bridged[k]; !ok || got != want {
		t.Errorf("%v: bridged %+v (marked %v), want %+v", k, got, ok, want)
	}
}

// Through a Linux bridge, with br_netfilter running the IP hooks over
// bridged frames and without: what the bridge forwards counts exactly
// once at its ports' stages and at no IP stage, and is marked with the
// ports; what it delivers to its own address is an ordinary receive, and
// what it sends from its own address an ordinary send, each stage
// counted once (the bridge device's receive and transmit are not).
func TestBridgedExactCounts(t *testing.T) {
	testnet.RequirePrivileged(t)
	bridges := map[bool]*testnet.Bridged{}
	for _, brnf := range []bool{true, false} {
		bridges[brnf] = testnet.NewBridged(t, brnf)
	}
	tr := start(t, Config{})
	sock := []stage.Stage{stage.SockRcv}
	for _, brnf := range []bool{true, false} {
		b := bridges[brnf]
		for _, v6 := range []bool{false, true} {
			t.Run(fmt.Sprintf("br_netfilter=%v/v6=%v", brnf, v6), func(t *testing.T) {
				const n = 23
				f, err := testnet.UDP(&b.Pair, testnet.A, n, 200, v6)
				if err != nil {
					t.Fatal(err)
				}
				local, err := testnet.UDP(b.ToBridge(), testnet.A, n, 200, v6)
				if err != nil {
					t.Fatal(err)
				}
				// After local: the bridge has learnt A's port, and sends
				// there only (an unknown address floods every port).
				reply, err := testnet.UDP(b.ToBridge(), testnet.B, n, 200, v6)
				if err != nil {
					t.Fatal(err)
				}
				snap := snapshot(t, tr)
				expect(t, tr, snap, key(f, b.InodeA, false), n, sent)
				expect(t, tr, snap, key(f, b.InodeR, false), n, bridgedPath)
				expect(t, tr, snap, key(f, b.InodeB, false), n, received, sock)
				expectBridged(t, snap, key(f, b.InodeR, false), b)
				expect(t, tr, snap, key(local, b.InodeR, false), n, received, sock)
				expect(t, tr, snap, key(reply, b.InodeR, false), n, sent)
				expect(t, tr, snap, key(reply, b.InodeA, false), n, received, sock)
				for _, k := range []flow.Key{key(local, b.InodeR, false), key(reply, b.InodeR, false)} {
					if ports, ok := snap.Bridged[k]; ok {
						t.Errorf("%v: the bridge's own traffic marked bridged %+v", k, ports)
					}
				}
			})
		}
	}
}

// TCP through the bridge (br_netfilter on): every segment either end put
// on the wire (SNMP, as in TestTCPMatchesNstat) crosses the bridge's
// ports, GSO or not.
func TestBridgedTCPMatchesNstat(t *testing.T) {
	testnet.RequirePrivileged(t)
	b := testnet.NewBridged(t, true)
	tr := start(t, Config{})
	for _, v6 := range []bool{false, true} {
		beforeA, beforeB := nstat(t, &b.Pair, testnet.A), nstat(t, &b.Pair, testnet.B)
		f, err := testnet.TCP(&b.Pair, testnet.A, 300000, v6)
		if err != nil {
			t.Fatal(err)
		}
		afterA, afterB := nstat(t, &b.Pair, testnet.A), nstat(t, &b.Pair, testnet.B)
		outA := delta(beforeA, afterA, "Tcp.OutSegs", "Tcp.RetransSegs")
		outB := delta(beforeB, afterB, "Tcp.OutSegs", "Tcp.RetransSegs")
		if outA < 200 {
			t.Fatalf("v6=%v: unexpected ground truth: A sent %d segments", v6, outA)
		}
		snap := snapshot(t, tr)
		expect(t, tr, snap, key(f, b.InodeR, false), outA, bridgedPath)
		expect(t, tr, snap, key(f, b.InodeR, true), outB, bridgedPath)
		expect(t, tr, snap, key(f, b.InodeB, false), outA, received, []stage.Stage{stage.SockRcv})
		expectBridged(t, snap, key(f, b.InodeR, false), b)
	}
}

// A FORWARD firewall rule in the bridge's namespace drops bridged frames
// when br_netfilter hands them to the IP hooks (Docker's setup): the drops
// are after the last stage passed, rx.core, and when the plan hooks
// ip.forward with netfilter, the flow is still known as bridged though it
// never reached the port it would leave by (a function hook on ip_forward
// never sees a bridged frame: measured on 6.12 in qemu, unmarked).
func TestBridgedFirewallDrop(t *testing.T) {
	testnet.RequirePrivileged(t)
	if !kernelAtLeast(t, 6, 4) {
		t.Skip("the firewall fault is a netfilter BPF program (6.4+)")
	}
	b := testnet.NewBridged(t, true)
	fw, err := faults.DropForwardedPort(faults.Named(b.NameR), faults.UDP, testPort)
	if err != nil {
		t.Fatal(err)
	}
	closeFault(t, fw)
	tr := start(t, Config{})
	for _, v6 := range []bool{false, true} {
		before := dropped(t, fw)
		const n = 19
		f := sendUDP(t, &b.Pair, n, v6)
		waitTruth(t, "firewall counter ("+family(v6)+")", func() uint64 { return dropped(t, fw) - before }, n)
		k := key(f, b.InodeR, false)
		expectDrops(t, tr, k, n, "NETFILTER_DROP", "rx.core")
		snap := snapshot(t, tr)
		expect(t, tr, snap, k, n, []stage.Stage{stage.RxDriver, stage.RxCore})
		if !functionHooked(tr, stage.IPForward) {
			expectBridged(t, snap, k, b)
		}
	}
}

// With the serve stages (rx.driver, tx.queue, drops) a bridged frame is
// still told from a routed one: tx.queue marks it, and the report names
// the path bridge, with no loss.
func TestBridgedWithServeStages(t *testing.T) {
	testnet.RequirePrivileged(t)
	b := testnet.NewBridged(t, true)
	tr := start(t, Config{Stages: stage.Serve})
	const n = 21
	f, err := testnet.UDP(&b.Pair, testnet.A, n, 200, false)
	if err != nil {
		t.Fatal(err)
	}
	snap := snapshot(t, tr)
	k := key(f, b.InodeR, false)
	expect(t, tr, snap, k, n, bridgedPath)
	expectBridged(t, snap, k, b)
	r := report.Build(snap, tr.Plan.Hooks, report.Namer{})
	for _, fl := range r.Flows {
		if fl.Netns == b.InodeR && fl.Src == f.Src.String() && fl.Sport == f.Sport {
			if fl.Path != "bridge" || fl.Lost != nil {
				t.Errorf("bridged flow: path %s, lost %+v, stages %v", fl.Path, fl.Lost, fl.Stages)
			}
			return
		}
	}
	t.Error("no record of the bridged flow")
}
