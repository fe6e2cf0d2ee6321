package faults_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dropspot/dropspot/internal/faults"
	"github.com/dropspot/dropspot/internal/testnet"
)

// Every fault must do what it says and be gone after Close. Drop reasons
// and stages are checked against dropspot in internal/tracer.

const port = 4242

// newPair makes a pair whose veth carries packets from the start.
func newPair(t *testing.T) *testnet.Pair {
	t.Helper()
	p := testnet.NewPair(t)
	for _, l := range []struct{ ns, ifname string }{{p.NameA, p.IfA}, {p.NameB, p.IfB}} {
		if err := faults.WaitLinkReady(faults.Named(l.ns), l.ifname, 2*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func noPorts(t *testing.T, p *testnet.Pair) uint64 {
	t.Helper()
	n, err := testnet.Nstat(p, testnet.B)
	if err != nil {
		t.Fatal(err)
	}
	return n["Udp.NoPorts"] + n["Udp6.NoPorts"]
}

// send sends n datagrams from A to B's port and returns how many reached
// UDP in B (Udp.NoPorts: nobody listens there).
func send(t *testing.T, p *testnet.Pair, n int, v6 bool) uint64 {
	t.Helper()
	src, dst := p.A4, p.B4
	if v6 {
		src, dst = p.A6, p.B6
	}
	before := noPorts(t, p)
	if _, err := faults.SendUDP(faults.Named(p.NameA), faults.UDPBurst{Src: src, Dst: netip.AddrPortFrom(dst, port), Count: n}); err != nil {
		t.Fatal(err)
	}
	return noPorts(t, p) - before
}

func TestDropPortAndIngress(t *testing.T) {
	testnet.RequirePrivileged(t)
	p := newPair(t)
	type fault interface {
		Dropped() (uint64, error)
		Close() error
	}
	for name, build := range map[string]func() (fault, error){
		"firewall": func() (fault, error) { return faults.DropPort(faults.Named(p.NameB), faults.UDP, port) },
		"tc":       func() (fault, error) { return faults.DropIngress(faults.Named(p.NameB), p.IfB, faults.UDP, port) },
	} {
		// Twice: a second rule in the same place works only if Close
		// really removed the first (one netfilter link per priority).
		for round := range 2 {
			f, err := build()
			if err != nil {
				t.Fatalf("%s round %d: %v", name, round, err)
			}
			for _, v6 := range []bool{false, true} {
				if got := send(t, p, 4, v6); got != 0 {
					t.Errorf("%s v6=%v: %d datagrams got through", name, v6, got)
				}
			}
			if n, err := f.Dropped(); err != nil || n != 8 {
				t.Errorf("%s: Dropped() = %d, %v; want 8", name, n, err)
			}
			if err := f.Close(); err != nil {
				t.Fatalf("%s: close: %v", name, err)
			}
			if got := send(t, p, 3, false); got != 3 {
				t.Errorf("%s: after Close %d of 3 datagrams got through", name, got)
			}
		}
	}
	if _, err := faults.DropPort(faults.Named(p.NameB), faults.UDP, 0); err == nil {
		t.Error("port 0: no error")
	}
	if _, err := faults.DropIngress(faults.Named(p.NameB), "nosuchif0", faults.UDP, port); err == nil {
		t.Error("missing interface: no error")
	}
}

func TestShape(t *testing.T) {
	testnet.RequirePrivileged(t)
	p := newPair(t)
	cfg := faults.ShapeConfig{Rate: 1 << 20, Burst: 4000, Limit: 10000}
	s, err := faults.Shape(faults.Named(p.NameA), p.IfA, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := faults.Shape(faults.Named(p.NameA), p.IfA, cfg); err == nil {
		t.Error("second root qdisc: no error")
	}
	if got := send(t, p, 3, false); got != 3 {
		t.Errorf("%d of 3 datagrams through an idle shaper", got)
	}
	if err := s.WaitEmpty(time.Second); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Stats(); err != nil || st.Sent != 3 || st.Drops != 0 {
		t.Errorf("stats %+v, %v; want 3 sent, none dropped", st, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	// Gone: the interface takes a new root qdisc again.
	s, err = faults.Shape(faults.Named(p.NameA), p.IfA, cfg)
	if err != nil {
		t.Fatalf("after close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestListenStuck(t *testing.T) {
	testnet.RequirePrivileged(t)
	p := newPair(t)
	r, err := faults.ListenStuck(faults.Named(p.NameB), netip.AddrPortFrom(p.B4, 0), 1)
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	if _, err := faults.SendUDP(faults.Named(p.NameA), faults.UDPBurst{Src: p.A4, Dst: r.Addr(), Count: n, Payload: 200}); err != nil {
		t.Fatal(err)
	}
	if lost, err := r.Dropped(); err != nil || lost == 0 || lost >= n {
		t.Errorf("Dropped() = %d, %v; want some but not all of %d", lost, err, n)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	// Closed: its port is free again.
	err = p.Do(testnet.B, func() error {
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(r.Addr()))
		if err != nil {
			return err
		}
		return c.Close()
	})
	if err != nil {
		t.Errorf("port still taken after Close: %v", err)
	}
}

func readSysctl(t *testing.T, p *testnet.Pair, key string) string {
	t.Helper()
	var v []byte
	if err := p.Do(testnet.B, func() (err error) { v, err = os.ReadFile("/proc/sys/" + key); return err }); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(v))
}

func TestStrictRPFilter(t *testing.T) {
	testnet.RequirePrivileged(t)
	p := newPair(t)
	key := "net/ipv4/conf/" + p.IfB + "/rp_filter"
	old := readSysctl(t, p, key)
	rp, err := faults.StrictRPFilter(faults.Named(p.NameB), p.IfB)
	if err != nil {
		t.Fatal(err)
	}
	if got := readSysctl(t, p, key); got != "1" {
		t.Errorf("rp_filter = %s, want 1", got)
	}
	if err := rp.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readSysctl(t, p, key); got != old {
		t.Errorf("rp_filter = %s after Close, want %s back", got, old)
	}
	for _, bad := range []string{"", "../all", "..", "a/b"} {
		if _, err := faults.StrictRPFilter(faults.Named(p.NameB), bad); err == nil {
			t.Errorf("interface %q: no error", bad)
		}
	}
}

// Intact injected packets must be taken as they would from a socket: a
// UDP datagram reaches a listening socket, a SYN to a closed port earns
// a reset. That proves addresses, next-hop MAC and checksums right, so
// that corrupted ones fail only for their corruption.
func TestInjectorIntact(t *testing.T) {
	testnet.RequirePrivileged(t)
	p := newPair(t)
	in, err := faults.NewInjector(faults.Named(p.NameA), p.IfA)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	for _, v6 := range []bool{false, true} {
		src, dst, network := p.A4, p.B4, "udp4"
		if v6 {
			src, dst, network = p.A6, p.B6, "udp6"
		}
		var c *net.UDPConn
		if err := p.Do(testnet.B, func() (err error) {
			c, err = net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 0)))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		to := c.LocalAddr().(*net.UDPAddr).AddrPort()
		if err := in.Send(faults.Packet{Src: netip.AddrPortFrom(src, 40000), Dst: to, Proto: faults.UDP, Payload: 11}, 2); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		for i := range 2 {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil || n != 11 || from.Port() != 40000 || from.Addr().Unmap() != src {
				t.Errorf("v6=%v datagram %d: %d bytes from %v, %v", v6, i, n, from, err)
			}
		}
		c.Close()

		rsts, err := faults.WatchResets(faults.Named(p.NameB))
		if err != nil {
			t.Fatal(err)
		}
		if err := in.Send(faults.Packet{Src: netip.AddrPortFrom(src, 40001), Dst: netip.AddrPortFrom(dst, port), Proto: faults.TCP}, 3); err != nil {
			t.Fatal(err)
		}
		if err := waitFor(func() (uint64, error) { return rsts.Dropped() }, 3); err != nil {
			t.Errorf("v6=%v: resets for injected SYNs: %v", v6, err)
		}
	}
	if err := in.Send(faults.Packet{Src: netip.MustParseAddrPort("198.18.0.1:1"), Dst: netip.MustParseAddrPort("198.19.255.254:1"), Proto: faults.UDP}, 1); err == nil {
		t.Error("destination without neighbour entry: no error")
	}
}

// waitFor polls get (frames are received asynchronously) until it returns
// want, for at most a second.
func waitFor(get func() (uint64, error), want uint64) error {
	deadline := time.Now().Add(time.Second)
	for {
		got, err := get()
		if err != nil {
			return err
		}
		if got == want {
			return nil
		}
		if got > want || time.Now().After(deadline) {
			return fmt.Errorf("got %d, want %d", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCountersAndSenders(t *testing.T) {
	testnet.RequirePrivileged(t)
	p := newPair(t)
	if _, err := faults.WatchCounters(faults.Named(p.NameB), "Udp.NoSuchCounter"); err == nil {
		t.Error("unknown counter: no error")
	}
	if _, err := faults.SNMP(faults.Named("dropspot-no-such-netns")); err == nil {
		t.Error("missing namespace: no error")
	}
	// A refused connection still names its flow.
	sport, err := faults.ConnectTCP(faults.Named(p.NameA), p.A4, netip.AddrPortFrom(p.B4, port), time.Second)
	if !errors.Is(err, unix.ECONNREFUSED) || sport == 0 {
		t.Errorf("connect to closed port: port %d, %v", sport, err)
	}
	for _, b := range []faults.UDPBurst{
		{Src: p.A4, Dst: netip.AddrPortFrom(p.B4, port), Count: 0},
		{Src: p.A4, Dst: netip.AddrPortFrom(p.B4, port), Count: 1, TTL: 256},
		{Src: p.A4, Dst: netip.AddrPortFrom(p.B4, port), Count: 1, Payload: -1},
	} {
		if _, err := faults.SendUDP(faults.Named(p.NameA), b); err == nil {
			t.Errorf("%+v: no error", b)
		}
	}
}

// First fragments whose datagrams never complete are dropped by the
// reassembly timer, one per datagram: each copy the injector sends is a
// datagram of its own. Close puts the timeouts back.
func TestShortReassembly(t *testing.T) {
	testnet.RequirePrivileged(t)
	p := newPair(t)
	keys := []string{"net/ipv4/ipfrag_time", "net/ipv6/ip6frag_time"}
	old := []string{readSysctl(t, p, keys[0]), readSysctl(t, p, keys[1])}
	r, err := faults.ShortReassembly(faults.Named(p.NameB), 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if got := readSysctl(t, p, k); got != "1" {
			t.Errorf("%s = %s, want 1", k, got)
		}
	}
	in, err := faults.NewInjector(faults.Named(p.NameA), p.IfA)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	const n = 6
	for _, v6 := range []bool{false, true} {
		src, dst := p.A4, p.B4
		if v6 {
			src, dst = p.A6, p.B6
		}
		pkt := faults.Packet{Src: netip.AddrPortFrom(src, 40000), Dst: netip.AddrPortFrom(dst, port), Proto: faults.UDP, Payload: 64, Fragment: 7}
		if err := in.Send(pkt, n); err != nil {
			t.Fatal(err)
		}
	}
	// Up to two timer periods after the last fragment.
	deadline := time.Now().Add(3 * time.Second)
	var delta map[string]uint64
	for ; time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if delta, err = r.Delta(); err != nil {
			t.Fatal(err)
		}
		if delta["Ip.ReasmTimeout"] >= n && delta["Ip6.ReasmTimeout"] >= n {
			break
		}
	}
	if delta["Ip.ReasmTimeout"] != n || delta["Ip6.ReasmTimeout"] != n {
		t.Errorf("reassembly timeouts %v, want %d of each", delta, n)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		if got := readSysctl(t, p, k); got != old[i] {
			t.Errorf("%s = %s after Close, want %s back", k, got, old[i])
		}
	}
	if _, err := faults.ShortReassembly(faults.Named(p.NameB), 0); err == nil {
		t.Error("0 s: no error")
	}
}
