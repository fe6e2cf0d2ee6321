package tracer

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/dropspot/dropspot/internal/netns"
	"github.com/dropspot/dropspot/internal/report"
	"github.com/dropspot/dropspot/internal/testnet"
)

// unshareHelperEnv makes the test binary act as the process of a
// namespace made by `unshare --net`, as a container runtime makes them:
// no name under /run/netns, found only through its process.
const unshareHelperEnv = "DROPSPOT_UNSHARE_HELPER"

const unshareDatagrams = 200

// TestUnshareHelper is not a test on its own: it runs inside the new
// namespace, prints the namespace's inode, then at once sends
// unshareDatagrams over loopback, one a millisecond, and reads them all.
func TestUnshareHelper(t *testing.T) {
	if os.Getenv(unshareHelperEnv) == "" {
		return
	}
	ino, err := netns.Inode(netns.Self)
	if err != nil {
		t.Fatal(err)
	}
	lo, err := netlink.LinkByName("lo")
	if err == nil {
		err = netlink.LinkSetUp(lo)
	}
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("netns %d\n", ino)
	rx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := net.DialUDP("udp", nil, rx.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	rx.SetReadDeadline(time.Now().Add(10 * time.Second))
	for range unshareDatagrams {
		if _, err := tx.Write(buf); err != nil {
			t.Fatal(err)
		}
		if _, err := rx.Read(buf); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestNamespaceMadeByUnshare: a namespace that sends in its first
// milliseconds is hooked on the kernel's word, long before a rescan
// (every second) would find it, and its packets are counted whole or, in
// the gap before its hooks are attached, not at all (netns_unhooked).
func TestNamespaceMadeByUnshare(t *testing.T) {
	testnet.RequirePrivileged(t)
	tr := start(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go tr.Watch(ctx)

	cmd := exec.Command("unshare", "--net", "--", os.Args[0], "-test.run=^TestUnshareHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), unshareHelperEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("unshare helper: %v\n%s", err, out)
	}
	var ns uint64
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "netns "); ok {
			ns, _ = strconv.ParseUint(v, 10, 32)
		}
	}
	if ns == 0 {
		t.Fatalf("helper printed no namespace:\n%s", out)
	}
	if err := tr.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := report.Build(snapshot(t, tr), tr.Plan.Hooks, report.Namer{})
	var counted uint64
	for _, f := range r.Flows {
		if uint64(f.Netns) != ns || f.Proto != "udp" {
			continue
		}
		if f.Path != "loopback" || len(f.Losses) > 0 {
			t.Errorf("%s:%d -> %s:%d: path %s, losses %+v", f.Src, f.Sport, f.Dst, f.Dport, f.Path, f.Losses)
		}
		var first uint64
		var stages int
		for s, n := range f.StagePackets() {
			if n == 0 {
				continue // ip.forward: not on a loopback path
			}
			if first == 0 {
				first = n
			}
			stages++
			if n != first {
				t.Errorf("%s:%d -> %s:%d: %s = %d, first stage %d", f.Src, f.Sport, f.Dst, f.Dport, s, n, first)
			}
		}
		if want := pathLength(tr, "loopback"); stages != want {
			t.Errorf("%s:%d -> %s:%d: %d stages counted, want %d", f.Src, f.Sport, f.Dst, f.Dport, stages, want)
		}
		counted += first
	}
	t.Logf("%d of %d datagrams counted whole; netns_unhooked=%d", counted, unshareDatagrams, r.Overflow.NetnsUnhooked)
	// Hooked within the helper's first ~200 ms: a once-a-second rescan
	// alone would mostly have come too late.
	if counted == 0 || counted > unshareDatagrams {
		t.Errorf("counted %d of %d datagrams", counted, unshareDatagrams)
	}
	// Without per-namespace hooks (kernels before 6.4 here) there is no
	// gap: every datagram counts.
	switch {
	case tr.Plan.PerNetns() && r.Overflow.NetnsUnhooked == 0:
		t.Errorf("netns_unhooked = 0: the datagrams sent before the hooks were attached must be counted there")
	case !tr.Plan.PerNetns() && counted != unshareDatagrams:
		t.Errorf("no per-namespace hooks, yet %d of %d datagrams counted", counted, unshareDatagrams)
	}
}
