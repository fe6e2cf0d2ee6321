package faults

import "testing"

func TestParseSNMP(t *testing.T) {
	got := map[string]uint64{}
	table := "Ip: Forwarding InHdrErrors\nIp: 2 7\nTcp: MaxConn OutRsts\nTcp: -1 3\n"
	if err := parseTable(table, got); err != nil {
		t.Fatal(err)
	}
	if err := parsePairs("Udp6NoPorts  4\nIp6InHdrErrors 5\n\n", got); err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{"Ip.Forwarding": 2, "Ip.InHdrErrors": 7, "Tcp.OutRsts": 3, "Udp6.NoPorts": 4, "Ip6.InHdrErrors": 5}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d", k, got[k], v)
		}
	}
	for _, bad := range []string{"Ip: A B\nIp: 1\n", "Ip: A\nTcp: 1\n", "Ip: A\n", "Ip: A\nIp: x\n"} {
		if err := parseTable(bad, map[string]uint64{}); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	for _, bad := range []string{"Ip6InReceives\n", "Ip6InReceives 1 2\n", "Ip6InReceives -1\n"} {
		if err := parsePairs(bad, map[string]uint64{}); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
