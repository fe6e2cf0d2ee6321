package kallsyms

import (
	"strings"
	"testing"
)

const fixture = `ffffffff81a00000 T eth_type_trans
ffffffff81a01000 t __netif_receive_skb_core.constprop.0
ffffffff81a02000 T gro_receive_skb
ffffffff81a03000 T ip_rcv
ffffffff81a04000 D some_data_symbol
ffffffffc0001000 t veth_xmit	[veth]
`

func table(t *testing.T) *Table {
	tab, err := Read(strings.NewReader(fixture))
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func TestResolve(t *testing.T) {
	tab := table(t)
	for target, want := range map[string]string{
		"eth_type_trans":           "eth_type_trans",
		"__netif_receive_skb_core": "__netif_receive_skb_core.constprop.0",
		"veth_xmit":                "veth_xmit",
		"some_data_symbol":         "",
		"ip_rcv_core":              "",
		"ip_rcv":                   "ip_rcv",
	} {
		got, ok := tab.Resolve(target)
		if got != want || ok != (want != "") {
			t.Errorf("Resolve(%q) = %q, %v; want %q", target, got, ok, want)
		}
	}
}

func TestSymbolize(t *testing.T) {
	tab := table(t)
	for addr, want := range map[uint64]string{
		0xffffffff81a0309b: "ip_rcv+0x9b",
		0xffffffff81a01000: "__netif_receive_skb_core.constprop.0+0x0",
		0xffffffffc0001010: "veth_xmit+0x10",
		0x1000:             "0x1000",
		0:                  "0x0",
	} {
		if got := tab.Format(addr); got != want {
			t.Errorf("Format(%#x) = %q, want %q", addr, got, want)
		}
	}
}
