package testnet

import (
	"os"
	"strings"
	"testing"
)

// The testdata files are /proc/net/{snmp,netstat,snmp6} of a 6.18 kernel.
func TestParseProcFixtures(t *testing.T) {
	got := make(map[string]uint64)
	for _, f := range []struct {
		file  string
		parse func([]byte, map[string]uint64) error
	}{
		{"testdata/snmp", parseHeaderValue},
		{"testdata/netstat", parseHeaderValue},
		{"testdata/snmp6", parseNameValue},
	} {
		data, err := os.ReadFile(f.file)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.parse(data, got); err != nil {
			t.Fatalf("%s: %v", f.file, err)
		}
	}
	want := map[string]uint64{
		"Ip.Forwarding":      2,
		"Ip.InReceives":      2236,
		"Ip.OutTransmits":    1691,
		"IcmpMsg.InType3":    1,
		"Tcp.RtoMax":         120000,
		"Tcp.InSegs":         2184,
		"Udp.InDatagrams":    51,
		"Udp.MemErrors":      0,
		"TcpExt.TW":          22,
		"TcpExt.DelayedACKs": 5,
		"IpExt.InOctets":     71512541,
		"Ip6.InReceives":     15,
		"Ip6.OutRequests":    24,
		"Icmp6.OutMsgs":      9,
		"Icmp6.InType1":      1,
		"Udp6.InDatagrams":   0,
		"UdpLite6.InErrors":  0,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %d (present %v), want %d", k, g, ok, v)
		}
	}
	// Tcp.MaxConn is -1, a limit rather than a counter.
	if _, ok := got["Tcp.MaxConn"]; ok {
		t.Error("Tcp.MaxConn should be skipped")
	}
	// Every field of the fixtures, minus Tcp.MaxConn: 82 in snmp, 229 in
	// netstat, 90 in snmp6.
	if len(got) != 82+229+90 {
		t.Errorf("parsed %d counters, want %d", len(got), 82+229+90)
	}
	for k := range got {
		if strings.Count(k, ".") != 1 || strings.HasPrefix(k, ".") || strings.HasSuffix(k, ".") {
			t.Errorf("malformed key %q", k)
		}
	}
}

func TestParseHeaderValueErrors(t *testing.T) {
	for name, text := range map[string]string{
		"odd lines":       "Udp: InDatagrams NoPorts\nUdp: 1 2\nTcp: InSegs\n",
		"prefix mismatch": "Udp: InDatagrams\nTcp: 1\n",
		"count mismatch":  "Udp: InDatagrams NoPorts\nUdp: 1\n",
		"no colon":        "Udp InDatagrams\nUdp 1\n",
		"not a number":    "Udp: InDatagrams\nUdp: x\n",
		"header only":     "Udp:\nUdp:\n",
	} {
		if err := parseHeaderValue([]byte(text), map[string]uint64{}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestParseNameValue(t *testing.T) {
	got := map[string]uint64{}
	text := "Ip6InReceives   \t7\nIcmp6InType128 3\n\nUdpLite6InErrors 0\n"
	if err := parseNameValue([]byte(text), got); err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{"Ip6.InReceives": 7, "Icmp6.InType128": 3, "UdpLite6.InErrors": 0}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d", k, got[k], v)
		}
	}
	for _, bad := range []string{"Ip6InReceives\n", "Ip6InReceives 1 2\n", "Ip6InReceives -1\n"} {
		if err := parseNameValue([]byte(bad), map[string]uint64{}); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
