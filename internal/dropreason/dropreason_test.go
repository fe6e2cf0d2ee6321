package dropreason

import (
	"slices"
	"strings"
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
		got, st, ok := FromLocation(fn, Context{})
		if got != want || ok != (want != "" || fn == "tcp_v4_rcv") {
			t.Errorf("FromLocation(%q) = %q, %v", fn, got, ok)
		}
		if want == "XDP_DROP" && st != stage.RxDriver {
			t.Errorf("XDP drops should sit at rx.driver, got %v", st)
		}
	}
	if Explain("SOCKET_RCVBUFF") == "" || Explain("SOCKET_RCVBUFF") == Explain("NO_SUCH_REASON") {
		t.Error("explanations table")
	}
	// A reason the table does not cover is said to be unexplained, not
	// left without a word.
	for _, reason := range []string{"NO_SUCH_REASON", "UNKNOWN", "reason(99)"} {
		if !strings.Contains(Explain(reason), "cause is unknown") {
			t.Errorf("Explain(%q) = %q", reason, Explain(reason))
		}
	}
}

// The stage a location tells follows the plan where a stage's function
// hook and its netfilter hook lie on either side of it, and the IP
// version where the function serves both.
func TestStageFromLocation(t *testing.T) {
	netfilter := Context{}
	at := func(s ...stage.Stage) func(stage.Stage) bool {
		return func(x stage.Stage) bool { return slices.Contains(s, x) }
	}
	for _, c := range []struct {
		fn   string
		ctx  Context
		want stage.Stage
	}{
		{"ip_expire", netfilter, stage.IPRcv},
		{"ip_expire", Context{AtFunction: at(stage.IPRcv)}, stage.IPRcv},
		// Conntrack reassembles before ip_local_deliver, the host after
		// its entry: no telling which.
		{"ip_expire", Context{AtFunction: at(stage.IPLocalIn)}, stage.Drops},
		{"inet_frag_rbtree_purge", netfilter, stage.IPRcv},
		{"inet_frag_rbtree_purge", Context{V6: true}, stage.Drops},
		{"ip6_frag_expire", Context{V6: true}, stage.L4Rcv},
		{"ip6_frag_expire", Context{V6: true, AtFunction: at(stage.L4Rcv, stage.IPLocalIn)}, stage.IPLocalIn},
		{"nf_ct_frag6_expire", Context{V6: true}, stage.IPRcv},
		{"ip_forward", netfilter, stage.IPRcv},
		{"ip_forward", Context{AtFunction: at(stage.IPForward)}, stage.IPForward},
		{"ip_rcv_core.constprop.0", netfilter, stage.RxCore},
		{"ip_rcv_core", Context{AtFunction: at(stage.IPRcv)}, stage.IPRcv},
		{"neigh_invalidate", netfilter, stage.IPPostrouting},
		{"__neigh_event_send", Context{AtFunction: at(stage.IPPostrouting)}, stage.IPPostrouting},
		{"arp_error_report", netfilter, stage.IPPostrouting},
		{"ping_rcv", netfilter, stage.L4Rcv},
		{"sk_stream_kill_queues", netfilter, stage.SockRcv},
		{"nf_hook_slow", netfilter, stage.Drops},
	} {
		if _, got, ok := FromLocation(c.fn, c.ctx); !ok || got != c.want {
			t.Errorf("%s (v6 %v): stage %v, %v; want %v", c.fn, c.ctx.V6, got, ok, c.want)
		}
	}
}
