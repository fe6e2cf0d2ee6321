package hookplan

import (
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"

	"github.com/dropspot/dropspot/internal/bpf"
	"github.com/dropspot/dropspot/internal/stage"
	"github.com/dropspot/dropspot/internal/testnet"
)

// Every TCP retransmission candidate the running kernel can take loads
// and attaches: the plan only ever uses the first, so the fallbacks
// (without err, raw_tp) would otherwise be verified on no kernel that
// has the first. On 6.18 all three load.
func TestTCPRetransmitCandidatesAttach(t *testing.T) {
	testnet.RequirePrivileged(t)
	if err := rlimit.RemoveMemlock(); err != nil {
		t.Fatal(err)
	}
	spec, err := bpf.LoadDropspot()
	if err != nil {
		t.Fatal(err)
	}
	mapsOnly := spec.Copy()
	mapsOnly.Programs = nil
	maps, err := ebpf.NewCollection(mapsOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer maps.Close()
	r := &resolver{loader: &loader{spec: spec, maps: maps.Maps}}
	attached := 0
	for _, c := range Candidates() {
		if c.Stage != stage.TCPRetransmit {
			continue
		}
		a, err := r.attach(c)
		if err != nil {
			t.Logf("%s: %v", c.Name(), err)
			continue
		}
		a.close()
		attached++
	}
	// The raw tracepoint takes any kernel's arguments: at least it.
	if attached == 0 {
		t.Fatal("no TCP retransmission candidate attached")
	}
	t.Logf("%d candidates attached", attached)
}
