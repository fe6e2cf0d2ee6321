package testnet

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dropspot/dropspot/internal/netns"
)

func TestChainForwards(t *testing.T) {
	RequirePrivileged(t)
	c := NewChain(t)
	for _, name := range []string{c.NameA, c.NameR, c.NameB} {
		if _, err := os.Stat(netns.Named(name)); err != nil {
			t.Errorf("netns not visible under %s: %v", netns.Dir, err)
		}
	}
	if c.InodeA == c.InodeR || c.InodeR == c.InodeB || c.InodeA == c.InodeB {
		t.Errorf("inodes not distinct: %d %d %d", c.InodeA, c.InodeR, c.InodeB)
	}
	// Silent on its own, from creation on: nothing sent anywhere yet.
	time.Sleep(200 * time.Millisecond)
	for n := NodeA; n <= NodeB; n++ {
		s, err := c.Nstat(n)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"Ip.OutRequests", "Ip6.OutRequests", "Ip6.OutMcastPkts", "Icmp6.OutMsgs"} {
			if s[k] != 0 {
				t.Errorf("%v: %s = %d on an idle chain", n, k, s[k])
			}
		}
	}

	for _, v6 := range []bool{false, true} {
		src, dst, fwd := c.A4, c.B4, "Ip.ForwDatagrams"
		if v6 {
			src, dst, fwd = c.A6, c.B6, "Ip6.OutForwDatagrams"
		}
		before, err := c.Nstat(NodeR)
		if err != nil {
			t.Fatal(err)
		}
		const n = 5
		var rx, tx *net.UDPConn
		err = errors.Join(
			c.Do(NodeB, func() (err error) {
				rx, err = net.ListenUDP(network("udp", dst), net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 0)))
				return err
			}),
			c.Do(NodeA, func() (err error) {
				tx, err = net.ListenUDP(network("udp", src), net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)))
				return err
			}))
		if err != nil {
			t.Fatal(err)
		}
		to := netip.AddrPortFrom(dst, localPort(rx.LocalAddr()))
		for range n {
			if _, err := tx.WriteToUDPAddrPort([]byte("via R"), to); err != nil {
				t.Fatal(err)
			}
		}
		rx.SetReadDeadline(time.Now().Add(opTimeout))
		if err := receiveUDP(rx, n, 5, netip.AddrPortFrom(src, localPort(tx.LocalAddr()))); err != nil {
			t.Errorf("v6=%v: %v", v6, err)
		}
		rx.Close()
		tx.Close()
		after, err := c.Nstat(NodeR)
		if err != nil {
			t.Fatal(err)
		}
		if got := after[fwd] - before[fwd]; got != n {
			t.Errorf("v6=%v: R %s grew by %d, want %d", v6, fwd, got, n)
		}
	}
}

func TestChainCleanup(t *testing.T) {
	RequirePrivileged(t)
	var names []string
	t.Run("chain", func(t *testing.T) {
		c := NewChain(t)
		names = []string{c.NameA, c.NameR, c.NameB}
	})
	for _, name := range names {
		if _, err := os.Stat(netns.Named(name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still present after cleanup (stat: %v)", name, err)
		}
	}
}

// A new TCP socket's receive buffer starts at tcp_rmem's default: the
// large one in A and B, the host's own in R.
func TestChainLargeTCPReceiveBuffers(t *testing.T) {
	RequirePrivileged(t)
	c := NewChain(t)
	if err := c.SetLargeTCPReceiveBuffers(); err != nil {
		t.Fatal(err)
	}
	for n := NodeA; n <= NodeB; n++ {
		var got int
		err := c.Do(n, func() error {
			fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			got, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if large := got == largeTCPReceiveBuffer; large != (n != NodeR) {
			t.Errorf("%s: a TCP socket's receive buffer is %d bytes (the large one: %d)", c.Name(n), got,
				largeTCPReceiveBuffer)
		}
	}
}
