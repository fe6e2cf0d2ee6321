package testnet

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// Flow is the 5-tuple a generator used, as seen from the sender: Src/Sport
// is the initiating side (the UDP sender, TCP client, ping sender).
// For ICMP echo, Sport and Dport are both the echo identifier.
type Flow struct {
	Src, Dst     netip.Addr
	Sport, Dport uint16
	Proto        string // "udp", "tcp", "icmp" or "icmp6"
}

func (f Flow) String() string {
	return fmt.Sprintf("%s %s -> %s", f.Proto,
		netip.AddrPortFrom(f.Src, f.Sport), netip.AddrPortFrom(f.Dst, f.Dport))
}

const (
	// opTimeout bounds every socket operation and every wait for the peer.
	opTimeout = 2 * time.Second
	// tcpTimeout bounds a whole TCP exchange, handshakes included.
	tcpTimeout = 5 * time.Second
	// maxCount bounds the number of datagrams or echo requests per call.
	maxCount = 100000
	// closedPort is the UDP destination port of UDPToClosedPort. Nothing
	// listens on it: the namespaces are private to the pair.
	closedPort = 9 // "discard"
	// rcvBuf is forced on UDP receivers (root may exceed rmem_max) so a
	// burst is never dropped for lack of buffer, whatever the scheduling.
	rcvBuf = 16 << 20
)

// UDP sends exactly n datagrams of payload bytes from side from to a socket
// bound in the other namespace, and waits until that socket has received all
// n. The receiver reads while the sender sends and must have everything
// opTimeout after the last send; fewer, or anything else, is an error.
// Payloads above the MTU (1472 bytes for IPv4, 1452 for IPv6 on the
// veth) are fragmented, so they are more than one packet each.
func UDP(p *Pair, from Side, n, payload int, v6 bool) (Flow, error) {
	if err := checkUDPArgs(n, payload); err != nil {
		return Flow{}, err
	}
	src, dst, err := p.route(from, v6)
	if err != nil {
		return Flow{}, err
	}
	rx, err := listenUDP(p, from.Other(), netip.AddrPortFrom(dst, 0))
	if err != nil {
		return Flow{}, err
	}
	defer rx.Close()
	if err := ForceRcvBuf(rx); err != nil {
		return Flow{}, err
	}
	tx, err := listenUDP(p, from, netip.AddrPortFrom(src, 0))
	if err != nil {
		return Flow{}, err
	}
	defer tx.Close()
	f := Flow{Src: src, Dst: dst, Sport: localPort(tx.LocalAddr()), Dport: localPort(rx.LocalAddr()), Proto: "udp"}

	received := make(chan error, 1)
	go func() {
		received <- receiveUDP(rx, n, payload, netip.AddrPortFrom(src, f.Sport))
	}()
	if err := sendUDP(tx, netip.AddrPortFrom(dst, f.Dport), n, payload); err != nil {
		rx.Close() // stops the receiver
		<-received
		return f, err
	}
	// The receiver gets opTimeout after the last send; a deadline also
	// applies to a Read already in progress.
	if err := rx.SetReadDeadline(time.Now().Add(opTimeout)); err != nil {
		rx.Close()
		<-received
		return f, fmt.Errorf("testnet: udp receiver deadline: %w", err)
	}
	if err := <-received; err != nil {
		return f, fmt.Errorf("testnet: %v: %w", f, err)
	}
	return f, nil
}

// UDPToClosedPort sends exactly n datagrams of payload bytes from side from
// to a port nobody listens on in the other namespace: each is dropped there
// as NO_SOCKET (Udp.NoPorts / Udp6.NoPorts) and answered with an ICMP port
// unreachable. The sending socket is unconnected, so those errors do not
// fail the later sends. It does not wait for the errors; on a veth they are
// produced before each send returns.
func UDPToClosedPort(p *Pair, from Side, n, payload int, v6 bool) (Flow, error) {
	if err := checkUDPArgs(n, payload); err != nil {
		return Flow{}, err
	}
	src, dst, err := p.route(from, v6)
	if err != nil {
		return Flow{}, err
	}
	tx, err := listenUDP(p, from, netip.AddrPortFrom(src, 0))
	if err != nil {
		return Flow{}, err
	}
	defer tx.Close()
	f := Flow{Src: src, Dst: dst, Sport: localPort(tx.LocalAddr()), Dport: closedPort, Proto: "udp"}
	if err := sendUDP(tx, netip.AddrPortFrom(dst, closedPort), n, payload); err != nil {
		return f, err
	}
	return f, nil
}

func checkUDPArgs(n, payload int) error {
	if n < 1 || n > maxCount {
		return fmt.Errorf("testnet: datagram count %d not in [1, %d]", n, maxCount)
	}
	// 65507 is the largest UDP payload over IPv4 (and fits IPv6 too).
	if payload < 0 || payload > 65507 {
		return fmt.Errorf("testnet: payload %d not in [0, 65507]", payload)
	}
	return nil
}

// listenUDP opens an unconnected UDP socket bound to laddr inside side's
// namespace; port 0 lets the kernel pick a free port.
func listenUDP(p *Pair, side Side, laddr netip.AddrPort) (*net.UDPConn, error) {
	var c *net.UDPConn
	err := p.Do(side, func() error {
		var err error
		c, err = net.ListenUDP(network("udp", laddr.Addr()), net.UDPAddrFromAddrPort(laddr))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("testnet: udp socket on %s in %s: %w", laddr, p.name(side), err)
	}
	return c, nil
}

// ForceRcvBuf gives a UDP receiver a buffer no burst of a test fills
// (SO_RCVBUFFORCE: root may exceed rmem_max).
func ForceRcvBuf(c *net.UDPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("testnet: udp receiver: %w", err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvBuf)
	}); err != nil {
		return fmt.Errorf("testnet: udp receiver: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("testnet: udp receiver SO_RCVBUFFORCE: %w", serr)
	}
	return nil
}

func sendUDP(c *net.UDPConn, dst netip.AddrPort, n, payload int) error {
	buf := make([]byte, payload)
	for i := range n {
		if err := c.SetWriteDeadline(time.Now().Add(opTimeout)); err != nil {
			return fmt.Errorf("testnet: udp send deadline: %w", err)
		}
		if _, err := c.WriteToUDPAddrPort(buf, dst); err != nil {
			return fmt.Errorf("testnet: udp send %d of %d to %s: %w", i+1, n, dst, err)
		}
	}
	return nil
}

// receiveUDP reads until n datagrams of payload bytes from src have arrived.
// Anything else is an error: the namespaces carry no other traffic, so it
// would mean the counts are not what the caller thinks.
func receiveUDP(c *net.UDPConn, n, payload int, src netip.AddrPort) error {
	buf := make([]byte, payload+1) // one spare byte reveals a longer datagram
	for got := 0; got < n; got++ {
		m, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return fmt.Errorf("received %d of %d datagrams: %w", got, n, err)
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		if from != src || m != payload {
			return fmt.Errorf("unexpected datagram of %d bytes from %s after %d of %d", m, from, got, n)
		}
	}
	return nil
}

// TCP connects from side from to a listener in the other namespace, sends
// nbytes and closes cleanly in both directions: the client shuts down its
// write side, the server reads to EOF and closes, the client reads the
// server's EOF and closes. When TCP returns, each side has sent its FIN and
// received the other's, and the client has sent the last ACK (the client
// socket stays in TIME_WAIT, so every call uses a new source port). The
// whole exchange is bounded by tcpTimeout.
func TCP(p *Pair, from Side, nbytes int, v6 bool) (Flow, error) {
	src, dst, err := p.route(from, v6)
	if err != nil {
		return Flow{}, err
	}
	return transferTCP(tcpEnds{
		client: func(fn func() error) error { return p.Do(from, fn) },
		server: func(fn func() error) error { return p.Do(from.Other(), fn) },
		where:  p.name(from.Other()),
		src:    src, dst: dst,
	}, nbytes)
}

// TCP is TCP through the chain's router, from A to a listener in B on
// port (0: any free one).
func (c *Chain) TCP(port uint16, nbytes int, v6 bool) (Flow, error) {
	src, dst := c.A4, c.B4
	if v6 {
		src, dst = c.A6, c.B6
	}
	return transferTCP(tcpEnds{
		client: func(fn func() error) error { return c.Do(NodeA, fn) },
		server: func(fn func() error) error { return c.Do(NodeB, fn) },
		where:  c.NameB,
		src:    src, dst: dst, port: port,
	}, nbytes)
}

// tcpEnds are the namespaces a TCP transfer runs between.
type tcpEnds struct {
	client, server func(func() error) error // run fn in the client's / server's namespace
	where          string                   // the server's namespace, for errors
	src, dst       netip.Addr
	port           uint16 // the server's; 0: any free one
}

func transferTCP(e tcpEnds, nbytes int) (Flow, error) {
	if nbytes < 0 {
		return Flow{}, fmt.Errorf("testnet: negative byte count %d", nbytes)
	}
	src, dst := e.src, e.dst
	deadline := time.Now().Add(tcpTimeout)
	var ln *net.TCPListener
	err := e.server(func() error {
		var err error
		ln, err = net.ListenTCP(network("tcp", dst), net.TCPAddrFromAddrPort(netip.AddrPortFrom(dst, e.port)))
		return err
	})
	if err != nil {
		return Flow{}, fmt.Errorf("testnet: tcp listen on %s in %s: %w", dst, e.where, err)
	}
	defer ln.Close()
	if err := ln.SetDeadline(deadline); err != nil {
		return Flow{}, fmt.Errorf("testnet: tcp listener deadline: %w", err)
	}
	f := Flow{Src: src, Dst: dst, Dport: localPort(ln.Addr()), Proto: "tcp"}

	served := make(chan error, 1)
	go func() { served <- serveTCP(ln, int64(nbytes), deadline) }()

	var c *net.TCPConn
	err = e.client(func() error {
		d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), Deadline: deadline}
		conn, err := d.Dial(network("tcp", dst), netip.AddrPortFrom(dst, f.Dport).String())
		if err != nil {
			return err
		}
		var ok bool
		if c, ok = conn.(*net.TCPConn); !ok {
			conn.Close()
			return fmt.Errorf("dial returned %T", conn)
		}
		return nil
	})
	if err != nil {
		ln.Close() // unblocks Accept
		<-served
		return f, fmt.Errorf("testnet: tcp connect %s -> %s: %w", src, netip.AddrPortFrom(dst, f.Dport), err)
	}
	f.Sport = localPort(c.LocalAddr())
	var errs []error
	if err := runTCPClient(c, nbytes, deadline); err != nil {
		errs = append(errs, fmt.Errorf("client: %w", err))
	}
	if err := <-served; err != nil {
		errs = append(errs, fmt.Errorf("server: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return f, fmt.Errorf("testnet: %v: %w", f, err)
	}
	return f, nil
}

// runTCPClient writes nbytes, half-closes, waits for the server's EOF and
// closes the connection.
func runTCPClient(c *net.TCPConn, nbytes int, deadline time.Time) error {
	err := func() error {
		if err := c.SetDeadline(deadline); err != nil {
			return err
		}
		if _, err := c.Write(make([]byte, nbytes)); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		if err := c.CloseWrite(); err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
		// The server sends nothing, so this returns at its FIN.
		if m, err := io.Copy(io.Discard, c); err != nil || m != 0 {
			return fmt.Errorf("waiting for server EOF: read %d bytes: %v", m, err)
		}
		return nil
	}()
	return errors.Join(err, c.Close())
}

// serveTCP accepts one connection, reads until the client's EOF, checks that
// exactly want bytes arrived and closes.
func serveTCP(ln *net.TCPListener, want int64, deadline time.Time) error {
	c, err := ln.Accept()
	if err != nil {
		return fmt.Errorf("accept: %w", err)
	}
	err = func() error {
		if err := c.SetDeadline(deadline); err != nil {
			return err
		}
		got, err := io.Copy(io.Discard, c)
		if err != nil {
			return fmt.Errorf("read after %d bytes: %w", got, err)
		}
		if got != want {
			return fmt.Errorf("received %d bytes, want %d", got, want)
		}
		return nil
	}()
	return errors.Join(err, c.Close())
}

// sockaddr returns a for bind/connect with port 0: for a ping socket, binding
// port 0 lets the kernel choose a free echo identifier.
func sockaddr(a netip.Addr) unix.Sockaddr {
	if a.Is4() {
		return &unix.SockaddrInet4{Addr: a.As4()}
	}
	return &unix.SockaddrInet6{Addr: a.As16()}
}

// network returns e.g. "udp4" or "udp6" so a socket is never dual-stack.
func network(proto string, a netip.Addr) string {
	if a.Is4() {
		return proto + "4"
	}
	return proto + "6"
}

// localPort returns the port of a UDP or TCP socket address (0 otherwise).
func localPort(a net.Addr) uint16 {
	switch a := a.(type) {
	case *net.UDPAddr:
		return uint16(a.Port)
	case *net.TCPAddr:
		return uint16(a.Port)
	}
	return 0
}

// TCPServerCloses opens a connection from side from, has the server send
// nbytes and close first, and the client read to the end and close: the
// client's FIN then reaches a closed connection (a timewait entry), as
// when a web server ends a response.
func TCPServerCloses(p *Pair, from Side, nbytes int, v6 bool) (Flow, error) {
	src, dst, err := p.route(from, v6)
	if err != nil {
		return Flow{}, err
	}
	deadline := time.Now().Add(tcpTimeout)
	var ln *net.TCPListener
	if err := p.Do(from.Other(), func() (err error) {
		ln, err = net.ListenTCP(network("tcp", dst), net.TCPAddrFromAddrPort(netip.AddrPortFrom(dst, 0)))
		return err
	}); err != nil {
		return Flow{}, fmt.Errorf("testnet: tcp listen on %s: %w", dst, err)
	}
	defer ln.Close()
	ln.SetDeadline(deadline)
	f := Flow{Src: src, Dst: dst, Dport: localPort(ln.Addr()), Proto: "tcp"}
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- fmt.Errorf("accept: %w", err)
			return
		}
		c.SetDeadline(deadline)
		_, err = c.Write(make([]byte, nbytes))
		served <- errors.Join(err, c.Close())
	}()
	var c net.Conn
	if err := p.Do(from, func() (err error) {
		d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), Deadline: deadline}
		c, err = d.Dial(network("tcp", dst), netip.AddrPortFrom(dst, f.Dport).String())
		return err
	}); err != nil {
		ln.Close()
		<-served
		return f, fmt.Errorf("testnet: tcp connect %s -> %s: %w", src, dst, err)
	}
	f.Sport = localPort(c.LocalAddr())
	c.SetDeadline(deadline)
	got, err := io.Copy(io.Discard, c)
	if err == nil && got != int64(nbytes) {
		err = fmt.Errorf("received %d bytes, want %d", got, nbytes)
	}
	if err := errors.Join(err, c.Close(), <-served); err != nil {
		return f, fmt.Errorf("testnet: %v: %w", f, err)
	}
	return f, nil
}
