package report

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"

	"github.com/dropspot/dropspot/internal/flow"
	"github.com/dropspot/dropspot/internal/stage"
)

// ReadJSON reads a report saved with WriteJSON (`watch --json`) so it can
// be rendered again.
func ReadJSON(r io.Reader) (*Report, error) {
	var rep Report
	dec := json.NewDecoder(r)
	if err := dec.Decode(&rep); err != nil {
		return nil, fmt.Errorf("not a dropspot JSON report: %w", err)
	}
	// Flows hooked alike share their paths, as in Build.
	planned := map[stageSet]*paths{}
	for i := range rep.Flows {
		if err := rep.Flows[i].restore(planned); err != nil {
			return nil, fmt.Errorf("flow %d: %w", i, err)
		}
	}
	return &rep, nil
}

// restore rebuilds what rendering needs from the exported fields.
func (f *Flow) restore(planned map[stageSet]*paths) error {
	src, err := netip.ParseAddr(f.Src)
	if err != nil {
		return fmt.Errorf("src: %w", err)
	}
	dst, err := netip.ParseAddr(f.Dst)
	if err != nil {
		return fmt.Errorf("dst: %w", err)
	}
	proto, err := flow.ParseProto(f.Proto)
	if err != nil {
		return err
	}
	f.key = flow.Key{Proto: proto, Src: src, Dst: dst, Sport: f.Sport, Dport: f.Dport, Netns: f.Netns}
	f.counts = &flow.Counts{}
	for name, n := range f.Stages {
		s, err := stage.Parse(name)
		if err != nil {
			return err
		}
		f.hooked.add(s)
		f.counts.Packets[s] = n
		f.counts.Bytes[s] = f.Bytes[name]
	}
	p, ok := planned[f.hooked]
	if !ok {
		p = newPaths(f.hooked)
		planned[f.hooked] = p
	}
	_, f.path = p.of(proto, f.counts, f.Bridge != nil)
	return nil
}
