package flow

import (
	"net/netip"
	"testing"
)

// ICMP flows are named by their messages; the two directions of a ping
// are a request and its reply.
func TestICMPName(t *testing.T) {
	a, b := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	for _, c := range []struct {
		key  Key
		want string
	}{
		{Key{Proto: 1, Src: a, Dst: b, Sport: 7, Dport: 7, Echo: EchoRequest}, "echo-request"},
		{Key{Proto: 1, Src: a, Dst: b, Sport: 7, Dport: 7, Echo: EchoRequest}.Reverse(), "echo-reply"},
		{Key{Proto: 1, Src: a, Dst: b, Sport: 3, Dport: 3}, "port-unreachable"},
		{Key{Proto: 1, Src: a, Dst: b, Sport: 11, Dport: 0}, "ttl-zero-during-transit"},
		{Key{Proto: 1, Src: a, Dst: b, Sport: 3, Dport: 8}, "destination-unreachable code 8"},
		{Key{Proto: 1, Src: a, Dst: b, Sport: 4, Dport: 0}, "source-quench"},
		{Key{Proto: 1, Src: a, Dst: b, Sport: 4, Dport: 1}, "source-quench code 1"},
		{Key{Proto: 1, Src: a, Dst: b, Sport: 42, Dport: 1}, "type 42 code 1"},
		{Key{Proto: 58, Src: a, Dst: b, Sport: 143, Dport: 0}, "mld2-listener-report"},
		{Key{Proto: 58, Src: a, Dst: b, Sport: 1, Dport: 4}, "port-unreachable"},
		{Key{Proto: 17, Src: a, Dst: b, Sport: 3, Dport: 3}, ""},
	} {
		if got := c.key.ICMPName(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.key, got, c.want)
		}
	}
	ping := Key{Proto: 58, Src: a, Dst: b, Sport: 9, Dport: 9, Echo: EchoRequest}
	if ping.Conn() != ping.Reverse().Conn() {
		t.Error("a ping's request and reply are not one connection")
	}
}
