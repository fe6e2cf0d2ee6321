package stage

import (
	"strings"
	"testing"

	"github.com/dropspot/dropspot/internal/bpf"
)

// The Go numbering must be the BPF numbering, or every count lands on the
// wrong stage.
func TestMatchesBPF(t *testing.T) {
	pairs := map[Stage]bpf.DropspotStage{
		RxDriver:      bpf.DropspotStageSTAGE_RX_DRIVER,
		RxCore:        bpf.DropspotStageSTAGE_RX_CORE,
		IPRcv:         bpf.DropspotStageSTAGE_IP_RCV,
		IPLocalIn:     bpf.DropspotStageSTAGE_IP_LOCAL_IN,
		L4Rcv:         bpf.DropspotStageSTAGE_L4RCV,
		SockRcv:       bpf.DropspotStageSTAGE_SOCK_RCV,
		IPForward:     bpf.DropspotStageSTAGE_IP_FORWARD,
		IPLocalOut:    bpf.DropspotStageSTAGE_IP_LOCAL_OUT,
		IPPostrouting: bpf.DropspotStageSTAGE_IP_POSTROUTING,
		TxQueue:       bpf.DropspotStageSTAGE_TX_QUEUE,
		TxXmit:        bpf.DropspotStageSTAGE_TX_XMIT,
		TxDone:        bpf.DropspotStageSTAGE_TX_DONE,
		Count:         bpf.DropspotStageNR_STAGES,
	}
	for s, b := range pairs {
		if int(s) != int(b) {
			t.Errorf("%v = %d in Go, %d in BPF", s, int(s), int(b))
		}
	}
}

func TestParseRoundTrip(t *testing.T) {
	for _, s := range All() {
		got, err := Parse(s.String())
		if err != nil || got != s {
			t.Errorf("Parse(%q) = %v, %v", s.String(), got, err)
		}
		if s.Meaning() == "" {
			t.Errorf("%v has no meaning", s)
		}
	}
	if _, err := Parse("ip.nowhere"); err == nil {
		t.Error("Parse accepted an unknown stage")
	}
}

func TestParseSet(t *testing.T) {
	for _, tc := range []struct {
		list string
		want Set
	}{
		{"all", AllStages},
		{"seed", SetOf(RxDriver, RxCore, L4Rcv, Drops)},
		{"serve", Serve},
		{"rx.driver, drops", SetOf(RxDriver, Drops)},
		// Presets and names join.
		{"seed,tx.done,tx.xmit", Seed.With(TxXmit).With(TxDone)},
		{"ip.rcv,ip.rcv,", SetOf(IPRcv)},
	} {
		got, err := ParseSet(tc.list)
		if err != nil || got != tc.want {
			t.Errorf("ParseSet(%q) = %v, %v; want %v", tc.list, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", ",", "ip.nowhere", "seed,rx", "ALL"} {
		_, err := ParseSet(bad)
		if err == nil {
			t.Errorf("ParseSet(%q) accepted", bad)
			continue
		}
		// The error says what is valid.
		for _, valid := range []string{"all", "seed", "serve", "rx.driver", "tx.done", "drops"} {
			if !strings.Contains(err.Error(), valid) {
				t.Errorf("ParseSet(%q): error %q does not list %s", bad, err, valid)
			}
		}
	}
}

// A set prints as its preset's name, else as the list ParseSet reads back.
func TestSetString(t *testing.T) {
	for _, s := range []Set{AllStages, Seed, Serve, SetOf(IPRcv, Drops), SetOf(TxDone)} {
		back, err := ParseSet(s.String())
		if err != nil || back != s {
			t.Errorf("%v read back as %v, %v", s, back, err)
		}
	}
	if got := SetOf(IPRcv, Drops).String(); got != "ip.rcv,drops" {
		t.Errorf("String = %q", got)
	}
	if got := Seed.String(); got != "seed" {
		t.Errorf("String = %q", got)
	}
	if !AllStages.Has(Drops) || !AllStages.Has(TCPRetransmit) || Seed.Has(IPRcv) || Seed.Has(Stage(-1)) ||
		AllStages.Has(TCPRetransmit+1) {
		t.Error("Has is wrong")
	}
}
