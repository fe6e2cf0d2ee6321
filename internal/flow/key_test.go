package flow

import (
	"net/netip"
	"testing"

	"github.com/dropspot/dropspot/internal/bpf"
	"github.com/dropspot/dropspot/internal/filter"
)

func TestConnIsDirectionFree(t *testing.T) {
	k := Key{Proto: 6, Src: netip.MustParseAddr("198.18.0.2"), Dst: netip.MustParseAddr("198.18.0.1"), Sport: 80, Dport: 40000, Netns: 9}
	if k.Conn() != k.Reverse().Conn() {
		t.Errorf("%v and its reverse have different conns", k)
	}
	other := k
	other.Netns = 10
	if k.Conn() == other.Conn() {
		t.Error("the same tuple in another namespace is another connection")
	}
	self := Key{Proto: 17, Src: k.Src, Dst: k.Src, Sport: 5, Dport: 4}
	if self.Conn() != self.Reverse().Conn() {
		t.Error("same-address conn is not direction free")
	}
}

func TestFromBPF(t *testing.T) {
	var raw bpf.DropspotFlowKey
	raw.Family, raw.Proto, raw.Sport, raw.Dport, raw.Netns = afInet, 17, 1, 2, 3
	copy(raw.Saddr[:], []byte{198, 18, 0, 1})
	copy(raw.Daddr[:], []byte{198, 18, 0, 2})
	k := FromBPF(raw)
	if k.Src.String() != "198.18.0.1" || k.Dst.String() != "198.18.0.2" || !k.Src.Is4() {
		t.Errorf("v4 key %v", k)
	}
	raw.Family = afInet6
	raw.Saddr = netip.MustParseAddr("2001:db8::1").As16()
	if got := FromBPF(raw).Src.String(); got != "2001:db8::1" {
		t.Errorf("v6 key src %s", got)
	}
}

func TestParseProtoAndFilter(t *testing.T) {
	for in, want := range map[string]uint8{"tcp": 6, "udp": 17, "icmp6": 58, "47": 47} {
		if got, err := ParseProto(in); err != nil || got != want {
			t.Errorf("ParseProto(%q) = %d, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "tcpp", "0", "256", "-1", "6x"} {
		if _, err := ParseProto(bad); err == nil {
			t.Errorf("ParseProto(%q) accepted", bad)
		}
	}
	prog, err := filter.Compile("host 2001:db8::5 and port 443")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Filter{Program: prog}.Config()
	if cfg.Nrules != 1 || cfg.Rules[0].Npreds != 2 {
		t.Fatalf("config %+v", cfg)
	}
}
