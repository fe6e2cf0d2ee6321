package tracer

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf/btf"

	"github.com/dropspot/dropspot/internal/flow"
	"github.com/dropspot/dropspot/internal/stage"
	"github.com/dropspot/dropspot/internal/testnet"
)

// requireConntrackTypes skips a NAT test on a kernel whose BTF lacks
// struct nf_conn: conntrack built as a module on a kernel without module
// BTF (before 5.11) and none of its types in vmlinux BTF (Debian's 5.10
// has them there: the tests run), or a module not loaded when dropspot
// started. There the programs cannot read conntrack entries, and keys
// stay the packets' own (ARCHITECTURE.md).
func requireConntrackTypes(t *testing.T) {
	t.Helper()
	var conn *btf.Struct
	if spec, err := btf.LoadKernelSpec(); err == nil && spec.TypeByName("nf_conn", &conn) == nil {
		return
	}
	if spec, err := btf.LoadKernelModuleSpec("nf_conntrack"); err == nil && spec.TypeByName("nf_conn", &conn) == nil {
		return
	}
	t.Skip("no BTF for struct nf_conn (conntrack is a module, and the kernel has no module BTF or did not load it): NAT keys are unavailable")
}

// natSetup makes n chains for a NAT test, then starts tracing.
func natSetup(t *testing.T, n int) ([]*testnet.Chain, *Tracer) {
	t.Helper()
	testnet.RequirePrivileged(t)
	requireConntrackTypes(t)
	var chains []*testnet.Chain
	for range n {
		chains = append(chains, testnet.NewChain(t))
	}
	return chains, start(t, Config{})
}

// forwarded is what a routed packet passes in the router's namespace.
var forwarded = []stage.Stage{stage.RxDriver, stage.RxCore, stage.IPRcv, stage.IPForward, stage.IPPostrouting,
	stage.TxQueue, stage.TxXmit, stage.TxDone}

// service is a Service-like translation in a Chain's router: clients in
// A connect to VIP:80, R sends them to B:8080.
type service struct {
	c        *testnet.Chain
	vip, dst netip.Addr // dst: the backend, B
	src      netip.Addr // the client, A
}

const (
	servicePort = 80
	backendPort = 8080
)

func newService(c *testnet.Chain, v6 bool) service {
	s := service{c: c, src: c.A4, dst: c.B4}
	if v6 {
		s.src, s.dst = c.A6, c.B6
	}
	// An address of B's subnet nobody has: A routes it to R, where the
	// translation happens before routing.
	b := s.dst.As16()
	b[15] = 100
	s.vip = netip.AddrFrom16(b).Unmap()
	return s
}

// family is the nft and address family word of the service's addresses.
func (s service) family() string {
	if s.vip.Is4() {
		return "ip"
	}
	return "ip6"
}

// nftDNAT translates the service with an nft nat chain in R.
func (s service) nftDNAT(t *testing.T) {
	t.Helper()
	script := fmt.Sprintf(`table inet dsnat {
	chain pre {
		type nat hook prerouting priority dstnat;
		%s daddr %s meta l4proto { tcp, udp } th dport %d dnat %s to %s
	}
}
`, s.family(), s.vip, servicePort, s.family(), netip.AddrPortFrom(s.dst, backendPort))
	if err := testnet.Nft(s.c.NameR, script); err != nil {
		t.Fatal(err)
	}
}

// iptablesDNAT translates the service with iptables (iptables-nft on
// Debian) in R.
func (s service) iptablesDNAT(t *testing.T) {
	t.Helper()
	cmd := "iptables"
	if s.vip.Is6() {
		cmd = "ip6tables"
	}
	for _, proto := range []string{"udp", "tcp"} {
		if _, err := testnet.Exec(s.c.NameR, "", cmd, "-t", "nat", "-A", "PREROUTING", "-d", s.vip.String(), "-p", proto,
			"--dport", fmt.Sprint(servicePort), "-j", "DNAT", "--to-destination",
			netip.AddrPortFrom(s.dst, backendPort).String()); err != nil {
			t.Fatal(err)
		}
	}
}

// udpPeers are a client socket and, if it has one, the server it talks
// to through the translation.
type udpPeers struct {
	cli, srv *net.UDPConn
	to       netip.AddrPort // where the client sends
}

// openUDP opens a client in node cn on caddr sending to to and, unless
// serverAt is the zero AddrPort, a server in node sn there. Both close
// with the test.
func openUDP(t *testing.T, c *testnet.Chain, cn testnet.Node, caddr netip.Addr, to netip.AddrPort,
	sn testnet.Node, serverAt netip.AddrPort) *udpPeers {
	t.Helper()
	u := &udpPeers{to: to}
	if serverAt.IsValid() {
		if err := c.Do(sn, func() (err error) {
			u.srv, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(serverAt))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { u.srv.Close() })
	}
	// Unconnected: a client sending into a port nobody listens on gets
	// ICMP errors, which would fail a connected socket's next write.
	if err := c.Do(cn, func() (err error) {
		u.cli, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(caddr, 0)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.cli.Close() })
	return u
}

func (u *udpPeers) sport() uint16 { return uint16(u.cli.LocalAddr().(*net.UDPAddr).Port) }

// send sends n datagrams and waits for no answer.
func (u *udpPeers) send(t *testing.T, n int) {
	t.Helper()
	for range n {
		if _, err := u.cli.WriteToUDPAddrPort(make([]byte, 100), u.to); err != nil {
			t.Fatal(err)
		}
	}
}

// echo sends n datagrams one at a time; the server answers each, and the
// client waits for every answer.
func (u *udpPeers) echo(t *testing.T, n int) {
	t.Helper()
	served := make(chan error, 1)
	go func() {
		buf := make([]byte, 2048)
		for range n {
			u.srv.SetReadDeadline(time.Now().Add(5 * time.Second))
			m, from, err := u.srv.ReadFromUDPAddrPort(buf)
			if err == nil {
				_, err = u.srv.WriteToUDPAddrPort(buf[:m], from)
			}
			if err != nil {
				served <- err
				return
			}
		}
		served <- nil
	}()
	buf := make([]byte, 2048)
	for i := range n {
		u.send(t, 1)
		u.cli.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := u.cli.Read(buf); err != nil {
			t.Fatalf("answer %d of %d: %v", i+1, n, err)
		}
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}

// udpEcho has the client in A exchange n datagrams with the backend
// through to.
func (s service) udpEcho(t *testing.T, to netip.AddrPort, n int) uint16 {
	t.Helper()
	u := openUDP(t, s.c, testnet.NodeA, s.src, to, testnet.NodeB, netip.AddrPortFrom(s.dst, backendPort))
	u.echo(t, n)
	return u.sport()
}

// tcpSend connects from the client to to, sends nbytes to a server in B
// on port, and closes once the server has read them all.
func (s service) tcpSend(t *testing.T, to netip.AddrPort, port uint16, nbytes int) uint16 {
	t.Helper()
	var ln *net.TCPListener
	var c *net.TCPConn
	if err := s.c.Do(testnet.NodeB, func() (err error) {
		ln, err = net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(s.dst, port)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		ln.SetDeadline(time.Now().Add(5 * time.Second))
		sc, err := ln.AcceptTCP()
		if err != nil {
			served <- err
			return
		}
		defer sc.Close()
		sc.SetDeadline(time.Now().Add(10 * time.Second))
		got, err := io.Copy(io.Discard, sc)
		if err == nil && got != int64(nbytes) {
			err = fmt.Errorf("server read %d bytes, want %d", got, nbytes)
		}
		served <- err
	}()
	if err := s.c.Do(testnet.NodeA, func() (err error) {
		c, err = net.DialTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(s.src, 0)), net.TCPAddrFromAddrPort(to))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	sport := uint16(c.LocalAddr().(*net.TCPAddr).Port)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(make([]byte, nbytes)); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	// The server closed: its FIN ends our read, then we close too.
	if _, err := io.Copy(io.Discard, c); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Fatal(err)
	}
	c.Close()
	return sport
}

// tcpOutSegs is the TCP segments node has put on the wire: OutSegs +
// RetransSegs.
func tcpOutSegs(t *testing.T, c *testnet.Chain, n testnet.Node) uint64 {
	t.Helper()
	m := chainNstat(t, c, n)
	return m["Tcp.OutSegs"] + m["Tcp.RetransSegs"]
}

// settled snapshots until done accepts one (bounded: packets and the
// last ACK of a close may still be on their way), and returns the last.
func settled(t *testing.T, tr *Tracer, done func(*flow.Snapshot) bool) *flow.Snapshot {
	t.Helper()
	snap := snapshot(t, tr)
	for deadline := time.Now().Add(3 * time.Second); !done(snap) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		snap = snapshot(t, tr)
	}
	return snap
}

// expectNoFlowWith asserts that no flow of namespace netns has addr at
// either end: a translated connection's packets all went to the record
// of the connection as its client knows it.
func expectNoFlowWith(t *testing.T, snap *flow.Snapshot, netns uint32, addr netip.Addr) {
	t.Helper()
	for k, c := range snap.Flows {
		if k.Netns == netns && (k.Src == addr || k.Dst == addr) {
			t.Errorf("%v: a second record of the translated connection: %v", k, c.Packets)
		}
	}
}

// expectNAT asserts the translation recorded for k.
func expectNAT(t *testing.T, snap *flow.Snapshot, k flow.Key, kind string, tuple flow.Key) {
	t.Helper()
	n, ok := snap.NAT[k]
	if !ok {
		t.Errorf("%v: no translation recorded", k)
		return
	}
	if n.Kind() != kind || n.Tuple != tuple {
		t.Errorf("%v: translation %s %v, want %s %v", k, n.Kind(), n.Tuple, kind, tuple)
	}
}

func expectNoSplit(t *testing.T, snap *flow.Snapshot) {
	t.Helper()
	if snap.Overflow.NATSplit != 0 {
		t.Errorf("nat_split = %d, want 0", snap.Overflow.NATSplit)
	}
}

// A Service-like DNAT in a router between client and backend, made with
// nft and with iptables(-nft), UDP and TCP, IPv4 and IPv6: in the router
// every stage of both directions counts under the connection as the
// client knows it (client -> VIP:80 and back), no record has the
// backend's address, and the translation is recorded for both
// directions. The client and backend namespaces keep their own view.
// Ground truth: the datagrams sent and answered; for TCP the client's and
// backend's OutSegs (+RetransSegs).
func TestNATServiceDNAT(t *testing.T) {
	type setup struct {
		name string
		dnat func(service, *testing.T)
	}
	chains, tr := natSetup(t, 4)
	sock := []stage.Stage{stage.SockRcv}
	i := 0
	for _, tool := range []setup{{"nft", service.nftDNAT}, {"iptables", service.iptablesDNAT}} {
		for _, v6 := range []bool{false, true} {
			c := chains[i]
			i++
			s := newService(c, v6)
			tool.dnat(s, t)
			t.Run(fmt.Sprintf("%s/v6=%v/udp", tool.name, v6), func(t *testing.T) {
				const n = 31
				sport := s.udpEcho(t, netip.AddrPortFrom(s.vip, servicePort), n)
				conn := flow.Key{Proto: 17, Src: s.src, Sport: sport, Dst: s.vip, Dport: servicePort}
				backend := flow.Key{Proto: 17, Src: s.src, Sport: sport, Dst: s.dst, Dport: backendPort}
				in := func(k flow.Key, netns uint32) flow.Key { k.Netns = netns; return k }
				snap := settled(t, tr, func(snap *flow.Snapshot) bool {
					c := snap.Flows[in(conn, c.InodeA).Reverse()]
					return c != nil && c.Packets[stage.SockRcv] == n
				})
				expect(t, tr, snap, in(conn, c.InodeA), n, sent)
				expect(t, tr, snap, in(conn, c.InodeA).Reverse(), n, received, sock)
				expect(t, tr, snap, in(conn, c.InodeR), n, forwarded)
				expect(t, tr, snap, in(conn, c.InodeR).Reverse(), n, forwarded)
				expect(t, tr, snap, in(backend, c.InodeB), n, received, sock)
				expect(t, tr, snap, in(backend, c.InodeB).Reverse(), n, sent)
				expectNoFlowWith(t, snap, c.InodeR, s.dst)
				expectNAT(t, snap, in(conn, c.InodeR), "dnat", in(backend, c.InodeR))
				expectNAT(t, snap, in(conn, c.InodeR).Reverse(), "dnat", in(backend, c.InodeR).Reverse())
				expectNoSplit(t, snap)
			})
			t.Run(fmt.Sprintf("%s/v6=%v/tcp", tool.name, v6), func(t *testing.T) {
				outSegs := func(n testnet.Node) uint64 { return tcpOutSegs(t, c, n) }
				a0, b0 := outSegs(testnet.NodeA), outSegs(testnet.NodeB)
				sport := s.tcpSend(t, netip.AddrPortFrom(s.vip, servicePort), backendPort, 200000)
				conn := flow.Key{Proto: 6, Src: s.src, Sport: sport, Dst: s.vip, Dport: servicePort}
				backend := flow.Key{Proto: 6, Src: s.src, Sport: sport, Dst: s.dst, Dport: backendPort}
				in := func(k flow.Key, netns uint32) flow.Key { k.Netns = netns; return k }
				var outA, outB uint64
				snap := settled(t, tr, func(snap *flow.Snapshot) bool {
					outA, outB = outSegs(testnet.NodeA)-a0, outSegs(testnet.NodeB)-b0
					x, y := snap.Flows[in(backend, c.InodeB)], snap.Flows[in(conn, c.InodeA).Reverse()]
					return x != nil && y != nil && x.Packets[stage.L4Rcv] == outA && y.Packets[stage.L4Rcv] == outB
				})
				t.Logf("client sent %d segments, backend %d", outA, outB)
				expect(t, tr, snap, in(conn, c.InodeA), outA, sent)
				expect(t, tr, snap, in(conn, c.InodeR), outA, forwarded)
				expect(t, tr, snap, in(backend, c.InodeB), outA, received, sock)
				expect(t, tr, snap, in(backend, c.InodeB).Reverse(), outB, sent)
				expect(t, tr, snap, in(conn, c.InodeR).Reverse(), outB, forwarded)
				expect(t, tr, snap, in(conn, c.InodeA).Reverse(), outB, received, sock)
				expectNoFlowWith(t, snap, c.InodeR, s.dst)
				expectNAT(t, snap, in(conn, c.InodeR), "dnat", in(backend, c.InodeR))
				expectNoSplit(t, snap)
			})
		}
	}
}
