package hookplan

import (
	"strings"
	"testing"
)

const kallsymsFixture = `ffffffff81a00000 T eth_type_trans
ffffffff81a01000 t __netif_receive_skb_core.constprop.0
ffffffff81a02000 T gro_receive_skb
ffffffff81a03000 T ip_rcv
ffffffff81a04000 D some_data_symbol
ffffffffc0001000 t veth_xmit	[veth]
`

func TestResolve(t *testing.T) {
	syms, err := ReadSymbols(strings.NewReader(kallsymsFixture))
	if err != nil {
		t.Fatal(err)
	}
	for target, want := range map[string]string{
		"eth_type_trans":                   "eth_type_trans",
		"__netif_receive_skb_core":         "__netif_receive_skb_core.constprop.0",
		"napi_gro_receive|gro_receive_skb": "gro_receive_skb",
		"veth_xmit":                        "veth_xmit",
		"some_data_symbol":                 "",
		"ip_rcv_core":                      "",
		"ip_rcv":                           "ip_rcv",
	} {
		got, ok := syms.Resolve(target)
		if got != want || ok != (want != "") {
			t.Errorf("Resolve(%q) = %q, %v; want %q", target, got, ok, want)
		}
	}
}
