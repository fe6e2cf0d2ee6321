package dropreason

import (
	"testing"

	"github.com/cilium/ebpf/btf"

	"github.com/dropspot/dropspot/internal/stage"
)

// A fixture enum whose numbers differ from any real kernel's: names must
// come from the enum, not from a table.
func TestNamesFromEnum(t *testing.T) {
	n := FromEnum(&btf.Enum{Name: "skb_drop_reason", Values: []btf.EnumValue{
		{Name: "SKB_NOT_DROPPED_YET", Value: 0},
		{Name: "SKB_DROP_REASON_NOT_SPECIFIED", Value: 7},
		{Name: "SKB_DROP_REASON_NETFILTER_DROP", Value: 42},
		{Name: "SKB_DROP_REASON_MAX", Value: 99},
		{Name: "SKB_DROP_REASON_SUBSYS_MASK", Value: 0xffff0000},
	}})
	for v, want := range map[uint32]string{7: "NOT_SPECIFIED", 42: "NETFILTER_DROP", 0: "", 12: "reason(12)", 99: "reason(99)"} {
		if got := n.Name(v); got != want {
			t.Errorf("Name(%d) = %q, want %q", v, got, want)
		}
	}
}

func TestKernelNames(t *testing.T) {
	n, err := Load()
	if err != nil {
		t.Skipf("no kernel BTF: %v", err)
	}
	if len(n.core) == 0 {
		t.Skip("kernel has no enum skb_drop_reason (before 5.17)")
	}
	found := false
	for _, name := range n.core {
		if name == "NETFILTER_DROP" {
			found = true
		}
	}
	if !found {
		t.Error("running kernel's reasons lack NETFILTER_DROP")
	}
}

func TestFromLocation(t *testing.T) {
	for fn, want := range map[string]string{
		"do_xdp_generic":   "XDP_DROP",
		"veth_xdp_rcv_skb": "XDP_DROP",
		"nf_hook_slow":     "NETFILTER_DROP",
		"nft_do_chain":     "NETFILTER_DROP",
		"__dev_queue_xmit": "QDISC_DROP",
		"tcp_v4_rcv":       "",
		"ext4_writepages":  "",
	} {
		got, st, ok := FromLocation(fn)
		if got != want || ok != (want != "" || fn == "tcp_v4_rcv") {
			t.Errorf("FromLocation(%q) = %q, %v", fn, got, ok)
		}
		if want == "XDP_DROP" && st != stage.RxDriver {
			t.Errorf("XDP drops should sit at rx.driver, got %v", st)
		}
	}
	if Explain("SOCKET_RCVBUFF") == "" || Explain("NO_SUCH_REASON") != "" {
		t.Error("explanations table")
	}
}
