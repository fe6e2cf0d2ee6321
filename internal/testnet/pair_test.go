package testnet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/dropspot/dropspot/internal/netns"
)

func TestSide(t *testing.T) {
	if A.String() != "A" || B.String() != "B" || Side(7).String() != "Side(7)" {
		t.Errorf("String: %v %v %v", A, B, Side(7))
	}
	if A.Other() != B || B.Other() != A {
		t.Error("Other is not the opposite side")
	}
}

func TestNewPairConfig(t *testing.T) {
	v4 := netip.MustParsePrefix("198.18.0.0/15")
	v6 := netip.MustParsePrefix("2001:db8::/32")
	seen := map[string]bool{}
	for range 200 {
		p, err := newPairConfig()
		if err != nil {
			t.Fatal(err)
		}
		p.lease.release()
		seen[p.NameA] = true
		suffix := strings.TrimPrefix(p.NameA, "dsA-")
		if p.NameB != "dsB-"+suffix || p.IfA != "dsa"+suffix || p.IfB != "dsb"+suffix || len(suffix) != 6 {
			t.Fatalf("inconsistent names %q %q %q %q", p.NameA, p.NameB, p.IfA, p.IfB)
		}
		if len(p.IfA) > 15 {
			t.Fatalf("interface name %q longer than IFNAMSIZ-1", p.IfA)
		}
		for _, c := range []struct {
			a, b   netip.Addr
			within netip.Prefix
			bits   int
		}{{p.A4, p.B4, v4, 24}, {p.A6, p.B6, v6, 64}} {
			pa, _ := c.a.Prefix(c.bits)
			pb, _ := c.b.Prefix(c.bits)
			if !c.within.Contains(c.a) || !c.within.Contains(c.b) || pa != pb || c.a == c.b {
				t.Fatalf("addresses %s, %s: want two hosts of one /%d inside %s", c.a, c.b, c.bits, c.within)
			}
		}
		if p.ns[A].IsOpen() || p.ns[B].IsOpen() {
			t.Fatal("config must not hold namespace handles")
		}
	}
	if len(seen) < 190 {
		t.Errorf("only %d distinct names in 200 pairs", len(seen))
	}
}

// threadNamespaces returns the distinct network namespaces of the process's
// threads.
func threadNamespaces(t *testing.T) map[string]bool {
	t.Helper()
	tasks, err := filepath.Glob("/proc/self/task/*/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	nss := map[string]bool{}
	for _, task := range tasks {
		if ns, err := os.Readlink(task); err == nil { // threads may exit meanwhile
			nss[ns] = true
		}
	}
	return nss
}

// nsOfThread returns the inode of the calling thread's network namespace.
func nsOfThread() (uint32, error) {
	return netns.Inode("/proc/thread-self/ns/net")
}

// inNS checks that the calling thread is in the namespace with inode want.
func inNS(want uint32) error {
	got, err := nsOfThread()
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("thread in netns %d, want %d", got, want)
	}
	return nil
}

func TestPair(t *testing.T) {
	RequirePrivileged(t)
	before := threadNamespaces(t)
	p := NewPair(t)

	for _, name := range []string{p.NameA, p.NameB} {
		if _, err := os.Stat(netns.Named(name)); err != nil {
			t.Errorf("netns not visible under %s: %v", netns.Dir, err)
		}
	}
	if p.InodeA == p.InodeB {
		t.Errorf("both sides have netns inode %d", p.InodeA)
	}
	for _, c := range []struct {
		side    Side
		inode   uint32
		ifname  string
		ifindex int
		addrs   []netip.Addr
	}{
		{A, p.InodeA, p.IfA, p.IfindexA, []netip.Addr{p.A4, p.A6}},
		{B, p.InodeB, p.IfB, p.IfindexB, []netip.Addr{p.B4, p.B6}},
	} {
		err := p.Do(c.side, func() error {
			if err := inNS(c.inode); err != nil {
				return err
			}
			ifc, err := net.InterfaceByName(c.ifname)
			if err != nil {
				return err
			}
			if ifc.Index != c.ifindex || ifc.Flags&net.FlagUp == 0 {
				return fmt.Errorf("%s: index %d flags %v, want index %d and up", c.ifname, ifc.Index, ifc.Flags, c.ifindex)
			}
			addrs, err := ifc.Addrs()
			if err != nil {
				return err
			}
			for _, want := range c.addrs {
				found := false
				for _, a := range addrs {
					found = found || a.(*net.IPNet).IP.Equal(want.AsSlice())
				}
				if !found {
					return fmt.Errorf("%s lacks %s (has %v)", c.ifname, want, addrs)
				}
			}
			return nil
		})
		if err != nil {
			t.Errorf("side %v: %v", c.side, err)
		}
	}

	// Go keeps its thread in the namespace while other namespace work runs.
	release := make(chan struct{})
	done := p.Go(B, func() error {
		if err := inNS(p.InodeB); err != nil {
			return err
		}
		<-release
		return inNS(p.InodeB)
	})
	for range 20 {
		if err := p.Do(A, func() error { return inNS(p.InodeA) }); err != nil {
			t.Error(err)
		}
	}
	close(release)
	if err := <-done; err != nil {
		t.Errorf("Go: %v", err)
	}

	if err := p.Do(A, func() error { runtime.Goexit(); return nil }); !errors.Is(err, netns.ErrGoexit) {
		t.Errorf("Do with Goexit: err = %v, want netns.ErrGoexit", err)
	}
	if err := p.Do(Side(7), func() error { return nil }); err == nil {
		t.Error("Do on an invalid side: no error")
	}
	// No thread may be left in a pair namespace.
	if after := threadNamespaces(t); len(after) != len(before) {
		t.Errorf("threads in namespaces %v, before %v", after, before)
	}
}

func TestPairCleanup(t *testing.T) {
	RequirePrivileged(t)
	var names []string
	t.Run("pair", func(t *testing.T) {
		p := NewPair(t)
		names = []string{p.NameA, p.NameB}
	})
	for _, name := range names {
		if _, err := os.Stat(netns.Named(name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still present after cleanup (stat: %v)", name, err)
		}
	}
}
