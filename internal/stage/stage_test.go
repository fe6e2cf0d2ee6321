package stage

import (
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
