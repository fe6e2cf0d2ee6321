package testnet

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// pingPayload follows each echo header. Any data would do; a
// recognisable string helps when reading a capture.
var pingPayload = []byte("dropspot testnet echo")

// echoKind is what differs between ICMP and ICMPv6 echo.
type echoKind struct {
	proto          string // as in Flow
	request, reply byte   // message types
	sockProto      int
}

func echoOf(v6 bool) echoKind {
	if v6 {
		return echoKind{"icmp6", 128, 129, unix.IPPROTO_ICMPV6}
	}
	return echoKind{"icmp", 8, 0, unix.IPPROTO_ICMP}
}

// message is an echo message of type typ: type, code, checksum,
// identifier, sequence, payload. The checksum is filled in for ICMP, which
// a raw IPv4 socket sends as it is; for ICMPv6 the kernel computes it
// (it covers a pseudo-header), and a ping socket rewrites both checksum
// and identifier.
func (k echoKind) message(typ byte, id, seq uint16) []byte {
	m := append(make([]byte, 8), pingPayload...)
	m[0] = typ
	binary.BigEndian.PutUint16(m[4:], id)
	binary.BigEndian.PutUint16(m[6:], seq)
	if k.proto == "icmp" {
		var sum uint32
		for i := 0; i+1 < len(m); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(m[i:]))
		}
		if len(m)%2 == 1 {
			sum += uint32(m[len(m)-1]) << 8
		}
		for sum>>16 != 0 {
			sum = sum&0xffff + sum>>16
		}
		binary.BigEndian.PutUint16(m[2:], ^uint16(sum))
	}
	return m
}

// isReply tells whether m, an ICMP message from its type on, is the
// reply to echo seq (of identifier id, unless id is 0).
func (k echoKind) isReply(m []byte, id, seq uint16) bool {
	return len(m) == 8+len(pingPayload) && m[0] == k.reply && binary.BigEndian.Uint16(m[6:]) == seq &&
		(id == 0 || binary.BigEndian.Uint16(m[4:]) == id)
}

// Ping sends n ICMP (or ICMPv6) echo requests from side from to the other
// side, one at a time, waiting up to opTimeout for each reply. It uses a
// ping socket (SOCK_DGRAM, IPPROTO_ICMP/ICMPV6; NewPair's ping_group_range
// lets root open them): the kernel sets the echo identifier to the socket's "port" and
// delivers only the replies carrying it, so concurrent pings cannot mix.
func Ping(p *Pair, from Side, n int, v6 bool) (Flow, error) {
	c, f, err := openEcho(p, from, n, v6, unix.SOCK_DGRAM)
	if err != nil {
		return f, err
	}
	defer c.Close()
	f.Sport = localPort(c.LocalAddr())
	f.Dport = f.Sport
	// The kernel filled in the identifier: any reply it delivers is ours.
	return f, exchangeEchoes(c, f, n, v6, 0, func(m []byte) []byte { return m })
}

// PingRaw is Ping over a raw ICMP socket (SOCK_RAW), as ping(8) sends when
// it may not open a ping socket, with an identifier of its own. The kernel
// gives every echo reply to every raw ICMP socket of the namespace and,
// as no ping socket has the identifier, also frees it as dropped
// (NO_SOCKET in ping_rcv): the reply is delivered and "dropped" at once.
func PingRaw(p *Pair, from Side, n int, v6 bool) (Flow, error) {
	src, dst, err := p.route(from, v6)
	if err != nil {
		return Flow{}, err
	}
	return PingRawIn(func(fn func() error) error { return p.Do(from, fn) }, p.name(from), src, dst, n)
}

// PingRawIn is PingRaw from src to dst in the namespace do runs functions
// in (named name, for errors): a Chain's node, say.
func PingRawIn(do func(func() error) error, name string, src, dst netip.Addr, n int) (Flow, error) {
	v6 := src.Is6()
	c, f, err := openEchoIn(do, name, src, dst, n, unix.SOCK_RAW)
	if err != nil {
		return f, err
	}
	defer c.Close()
	// A raw IPv4 socket reads the IP header too; a raw IPv6 socket does not.
	icmpPart := func(m []byte) []byte {
		if v6 || len(m) == 0 || len(m) < int(m[0]&0xf)*4 {
			return m
		}
		return m[int(m[0]&0xf)*4:]
	}
	return f, exchangeEchoes(c, f, n, v6, f.Sport, icmpPart)
}

// EchoReplies sends n echo replies that answer no request, from side from
// to the other side over a raw socket, and does not wait. The other side
// has no socket that wants them: the kernel counts each (Icmp.InEchoReps,
// Icmp6.InEchoReplies) and drops it as NO_SOCKET in ping_rcv — a real
// loss, unlike PingRaw's replies.
func EchoReplies(p *Pair, from Side, n int, v6 bool) (Flow, error) {
	c, f, err := openEcho(p, from, n, v6, unix.SOCK_RAW)
	if err != nil {
		return f, err
	}
	defer c.Close()
	k := echoOf(v6)
	for i := range n {
		if err := c.SetWriteDeadline(time.Now().Add(opTimeout)); err != nil {
			return f, fmt.Errorf("testnet: %v: deadline: %w", f, err)
		}
		if _, err := c.Write(k.message(k.reply, f.Sport, uint16(i+1))); err != nil {
			return f, fmt.Errorf("testnet: %v: send reply %d of %d: %w", f, i+1, n, err)
		}
	}
	return f, nil
}

// openEcho checks the count and opens an ICMP socket of sotype (ping or
// raw) in side from, bound to its address and connected to the other
// side's. The flow's identifier is a random one, for raw sockets.
func openEcho(p *Pair, from Side, n int, v6 bool, sotype int) (net.Conn, Flow, error) {
	src, dst, err := p.route(from, v6)
	if err != nil {
		return nil, Flow{}, err
	}
	return openEchoIn(func(fn func() error) error { return p.Do(from, fn) }, p.name(from), src, dst, n, sotype)
}

// openEchoIn is openEcho from src to dst in the namespace do runs in.
func openEchoIn(do func(func() error) error, name string, src, dst netip.Addr, n, sotype int) (net.Conn, Flow, error) {
	if n < 1 || n > maxCount {
		return nil, Flow{}, fmt.Errorf("testnet: echo count %d not in [1, %d]", n, maxCount)
	}
	v6 := src.Is6()
	id := uint16(rand.N(0xffff)) + 1
	f := Flow{Src: src, Dst: dst, Sport: id, Dport: id, Proto: echoOf(v6).proto}
	var c net.Conn
	err := do(func() error {
		var err error
		c, err = dialICMP(sotype, echoOf(v6).sockProto, src, dst)
		return err
	})
	if err != nil {
		return nil, f, fmt.Errorf("testnet: icmp socket %s -> %s in %s: %w", src, dst, name, err)
	}
	return c, f, nil
}

// exchangeEchoes sends n echo requests of identifier id one at a time and
// waits up to opTimeout for each reply. icmpPart finds the ICMP message
// in what the socket reads. Other ICMP messages (a raw socket reads them
// all) are skipped.
func exchangeEchoes(c net.Conn, f Flow, n int, v6 bool, id uint16, icmpPart func([]byte) []byte) error {
	k := echoOf(v6)
	buf := make([]byte, 1500)
	for i := range n {
		seq := uint16(i + 1)
		if err := c.SetDeadline(time.Now().Add(opTimeout)); err != nil {
			return fmt.Errorf("testnet: %v: deadline: %w", f, err)
		}
		if _, err := c.Write(k.message(k.request, id, seq)); err != nil {
			return fmt.Errorf("testnet: %v: send echo %d of %d: %w", f, seq, n, err)
		}
		for {
			m, err := c.Read(buf)
			if err != nil {
				return fmt.Errorf("testnet: %v: reply to echo %d of %d: %w", f, seq, n, err)
			}
			if k.isReply(icmpPart(buf[:m]), id, seq) {
				break
			}
		}
	}
	return nil
}

// dialICMP opens an ICMP socket of sotype (SOCK_DGRAM: a ping socket, or
// SOCK_RAW) bound to src and connected to dst; a connected raw socket
// reads only what dst sends. It must run inside the sender's namespace.
// Go's net package has no constructor for these, but adopts them through
// net.FileConn (a ping socket as a *net.UDPConn, whose port is the echo
// identifier; a raw one as a *net.IPConn).
func dialICMP(sotype, proto int, src, dst netip.Addr) (net.Conn, error) {
	family := unix.AF_INET
	if src.Is6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, sotype|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	f := os.NewFile(uintptr(fd), "icmp")
	defer f.Close() // net.FileConn works on a duplicate
	if err := unix.Bind(fd, sockaddr(src)); err != nil {
		return nil, fmt.Errorf("bind: %w", err)
	}
	if err := unix.Connect(fd, sockaddr(dst)); err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	return net.FileConn(f)
}
