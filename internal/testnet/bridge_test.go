package testnet

import (
	"errors"
	"os"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/dropspot/dropspot/internal/netns"
)

// Traffic between A and B crosses the bridge (its ports are enslaved to
// it and nothing else joins A and B); traffic to the bridge's own
// addresses ends in R; everything is gone after cleanup.
func TestBridged(t *testing.T) {
	RequirePrivileged(t)
	var names []string
	t.Run("bridged", func(t *testing.T) {
		b := NewBridged(t, true)
		names = []string{b.NameA, b.NameR, b.NameB}
		err := b.DoR(func() error {
			for _, port := range []int{b.PortAIndex, b.PortBIndex} {
				l, err := netlink.LinkByIndex(port)
				if err != nil {
					return err
				}
				if l.Attrs().MasterIndex != b.BridgeIndex {
					t.Errorf("port %s: master %d, want the bridge %d", l.Attrs().Name, l.Attrs().MasterIndex, b.BridgeIndex)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, v6 := range []bool{false, true} {
			if _, err := UDP(&b.Pair, A, 5, 100, v6); err != nil {
				t.Errorf("v6=%v: A to B: %v", v6, err)
			}
			if _, err := UDP(b.ToBridge(), A, 5, 100, v6); err != nil {
				t.Errorf("v6=%v: A to the bridge: %v", v6, err)
			}
		}
	})
	for _, name := range names {
		if _, err := os.Stat(netns.Named(name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still present after cleanup (stat: %v)", name, err)
		}
	}
}
