package faults

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// sendTimeout bounds each send and each connection attempt.
	sendTimeout = 2 * time.Second
	// maxDatagrams bounds one burst.
	maxDatagrams = 100000
)

// UDPBurst is datagrams sent from one socket to one destination.
type UDPBurst struct {
	Src     netip.Addr // local address; the kernel picks the port
	Dst     netip.AddrPort
	Count   int // 1..100000
	Payload int // bytes of zeros per datagram, 0..65507
	TTL     int // IPv4 TTL or IPv6 hop limit; 0 = the namespace default
}

// SendUDP sends b from ns on an unconnected socket and returns the source
// port, which with b's addresses names the flow. An unconnected socket
// ignores the ICMP errors the datagrams may earn, so later sends are not
// affected by earlier drops.
func SendUDP(ns Netns, b UDPBurst) (uint16, error) {
	if b.Count < 1 || b.Count > maxDatagrams {
		return 0, fmt.Errorf("faults: udp count %d not in [1, %d]", b.Count, maxDatagrams)
	}
	if b.Payload < 0 || b.Payload > 65507 {
		return 0, fmt.Errorf("faults: udp payload %d not in [0, 65507]", b.Payload)
	}
	if b.TTL < 0 || b.TTL > 255 {
		return 0, fmt.Errorf("faults: ttl %d not in [0, 255]", b.TTL)
	}
	src := b.Src.Unmap()
	var conn *net.UDPConn
	err := ns.Do(func() error {
		var err error
		conn, err = net.ListenUDP(udpNetwork(src), net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("faults: udp socket on %s in %v: %w", src, ns, err)
	}
	defer conn.Close()
	if b.TTL != 0 {
		level, opt := unix.IPPROTO_IP, unix.IP_TTL
		if !src.Is4() {
			level, opt = unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS
		}
		if err := setSockopt(conn, level, opt, b.TTL); err != nil {
			return 0, fmt.Errorf("faults: set ttl %d: %w", b.TTL, err)
		}
	}
	sport := conn.LocalAddr().(*net.UDPAddr).AddrPort().Port()
	buf := make([]byte, b.Payload)
	for i := range b.Count {
		if err := conn.SetWriteDeadline(time.Now().Add(sendTimeout)); err != nil {
			return sport, err
		}
		if _, err := conn.WriteToUDPAddrPort(buf, b.Dst); err != nil {
			return sport, fmt.Errorf("faults: udp send %d of %d to %s: %w", i+1, b.Count, b.Dst, err)
		}
	}
	return sport, nil
}

// ConnectTCP makes one connection attempt from src (port picked by the
// kernel) to dst in ns and closes the connection if it is made. It
// returns the source port whatever happens, so the flow of a failed
// attempt can be named too. A closed port fails at once with
// ECONNREFUSED (test with errors.Is). A timeout below the first SYN
// retransmission (1 s) means exactly one SYN is sent.
func ConnectTCP(ns Netns, src netip.Addr, dst netip.AddrPort, timeout time.Duration) (uint16, error) {
	if timeout <= 0 || timeout > sendTimeout {
		return 0, fmt.Errorf("faults: connect timeout %v not in (0, %v]", timeout, sendTimeout)
	}
	var sport uint16
	err := ns.Do(func() error {
		var err error
		sport, err = connectTCP(src.Unmap(), dst, timeout)
		return err
	})
	if err != nil {
		return sport, fmt.Errorf("faults: tcp connect %s -> %s in %v: %w", src, dst, ns, err)
	}
	return sport, nil
}

// connectTCP runs in the namespace: bind first, so the port is known even
// when the connect fails.
func connectTCP(src netip.Addr, dst netip.AddrPort, timeout time.Duration) (uint16, error) {
	family := unix.AF_INET
	if !src.Is4() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, sockaddr(netip.AddrPortFrom(src, 0))); err != nil {
		return 0, fmt.Errorf("bind: %w", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return 0, err
	}
	var sport uint16
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		sport = uint16(sa.Port)
	case *unix.SockaddrInet6:
		sport = uint16(sa.Port)
	}
	err = unix.Connect(fd, sockaddr(dst))
	if err == nil {
		return sport, nil
	}
	if !errors.Is(err, unix.EINPROGRESS) {
		return sport, err
	}
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return sport, fmt.Errorf("no answer within %v: %w", timeout, unix.ETIMEDOUT)
		}
		n, err := unix.Poll(pfd, int(left.Milliseconds())+1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return sport, fmt.Errorf("poll: %w", err)
		}
		if n > 0 {
			break
		}
	}
	soerr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return sport, err
	}
	if soerr != 0 {
		return sport, unix.Errno(soerr)
	}
	return sport, nil
}

func sockaddr(a netip.AddrPort) unix.Sockaddr {
	ip := a.Addr().Unmap()
	if ip.Is4() {
		return &unix.SockaddrInet4{Addr: ip.As4(), Port: int(a.Port())}
	}
	return &unix.SockaddrInet6{Addr: ip.As16(), Port: int(a.Port())}
}
