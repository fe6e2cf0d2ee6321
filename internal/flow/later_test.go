package flow

import (
	"net/netip"
	"testing"

	"github.com/dropspot/dropspot/internal/stage"
)

func TestKeyBPFRoundTrip(t *testing.T) {
	for _, k := range []Key{
		{Proto: 17, Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.18.0.2"), Sport: 1, Dport: 2, Netns: 7},
		{Proto: 58, Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8::2"), Sport: 9, Dport: 9,
			Echo: EchoRequest, Netns: 8},
	} {
		if got := FromBPF(k.BPF()); got != k {
			t.Errorf("%+v came back as %+v", k, got)
		}
	}
}

func TestCountsEven(t *testing.T) {
	var c Counts
	c.Packets[stage.RxDriver], c.Packets[stage.SockRcv] = 5, 5
	if !c.even() {
		t.Error("5, 5 is even")
	}
	c.Packets[stage.L4Rcv] = 4
	if c.even() {
		t.Error("5, 4, 5 is not even")
	}
}
