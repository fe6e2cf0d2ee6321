package faults

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// StuckReceiver is a UDP server that has stopped reading — hung, or too
// slow — with a receive buffer of a few packets: once the buffer is full,
// every further datagram is dropped as SOCKET_RCVBUFF after the socket
// lookup and the socket filter (dropspot's sock.rcv). The ground truth is
// Udp.RcvbufErrors (Udp6.RcvbufErrors) of its namespace.
type StuckReceiver struct {
	conn *net.UDPConn
	addr netip.AddrPort
	*Counters
}

// ListenStuck binds a UDP socket to addr in ns (port 0: the kernel picks
// one) with a receive buffer of rcvbuf bytes and never reads from it. The
// kernel doubles rcvbuf for its bookkeeping and raises it to its minimum
// (about 4.5 KiB); how many datagrams fit depends on their truesize, not
// only their payload, so the dropped count is known only from the ground
// truth.
func ListenStuck(ns Netns, addr netip.AddrPort, rcvbuf int) (*StuckReceiver, error) {
	if rcvbuf <= 0 {
		return nil, fmt.Errorf("faults: stuck receiver: receive buffer %d bytes", rcvbuf)
	}
	c, err := WatchRcvbufErrors(ns)
	if err != nil {
		return nil, err
	}
	var conn *net.UDPConn
	err = ns.Do(func() error {
		var err error
		conn, err = net.ListenUDP(udpNetwork(addr.Addr()), net.UDPAddrFromAddrPort(addr))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("faults: stuck receiver on %s in %v: %w", addr, ns, err)
	}
	if err := setSockopt(conn, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf); err != nil {
		return nil, errors.Join(fmt.Errorf("faults: stuck receiver SO_RCVBUF: %w", err), conn.Close())
	}
	local := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	return &StuckReceiver{
		conn:     conn,
		addr:     netip.AddrPortFrom(local.Addr().Unmap(), local.Port()),
		Counters: c,
	}, nil
}

// Addr is the address datagrams should be sent to.
func (r *StuckReceiver) Addr() netip.AddrPort { return r.addr }

// Close closes the socket, freeing what it had queued (normal frees,
// not drops).
func (r *StuckReceiver) Close() error { return r.conn.Close() }

// setSockopt sets an int socket option on c's descriptor.
func setSockopt(c interface {
	SyscallConn() (syscall.RawConn, error)
}, level, opt, value int) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), level, opt, value) }); err != nil {
		return err
	}
	return serr
}

// udpNetwork keeps a socket single-stack: "udp4" or "udp6".
func udpNetwork(a netip.Addr) string {
	if a.Is4() || a.Is4In6() {
		return "udp4"
	}
	return "udp6"
}
