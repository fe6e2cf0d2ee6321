package main

import (
	"sort"
	"sync"
	"time"

	"github.com/cilium/ebpf"
)

// The machine is shared: other people's tests load BPF programs (their own
// dropspot, attached to the same global tracepoints and to netfilter in
// every namespace, ours included) and may turn bpf_stats on. Either one
// slows a measurement down. A monitor polls the kernel's program list
// (cheap syscalls, every 200 ms) while a measurement runs and says what
// it saw.

// relevantTypes are the program types that run on our packets' path
// whoever attached them.
var relevantTypes = map[ebpf.ProgramType]bool{
	ebpf.Tracing: true, ebpf.TracePoint: true, ebpf.RawTracepoint: true, ebpf.Kprobe: true,
	ebpf.Netfilter: true, ebpf.CGroupSKB: true, ebpf.PerfEvent: true,
}

// disturbance is what else ran on the packets' path during a measurement;
// the samples that carry it embed it.
type disturbance struct {
	Foreign      int      `json:"foreign_bpf_programs"`        // most foreign programs seen at once
	ForeignNames []string `json:"foreign_bpf_names,omitempty"` // their names
	StatsOn      bool     `json:"bpf_stats_on"`                // some program's run_cnt grew: bpf_stats was on
}

// clean: neither foreign programs nor bpf_stats on meanwhile.
func (d disturbance) clean() bool { return d.Foreign == 0 && !d.StatsOn }

// disturbed counts the samples that were not clean.
func disturbed[S interface{ clean() bool }](samples []S) int {
	n := 0
	for _, s := range samples {
		if !s.clean() {
			n++
		}
	}
	return n
}

type monitor struct {
	own  map[ebpf.ProgramID]bool
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	res  disturbance
	cnt  map[ebpf.ProgramID]uint64
	seen map[string]bool
}

func startMonitor(ownIDs []int) *monitor {
	m := &monitor{own: map[ebpf.ProgramID]bool{}, stop: make(chan struct{}), done: make(chan struct{}),
		cnt: map[ebpf.ProgramID]uint64{}, seen: map[string]bool{}}
	for _, id := range ownIDs {
		m.own[ebpf.ProgramID(id)] = true
	}
	go func() {
		defer close(m.done)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		m.poll()
		for {
			select {
			case <-m.stop:
				m.poll()
				return
			case <-t.C:
				m.poll()
			}
		}
	}()
	return m
}

func (m *monitor) poll() {
	foreign := 0
	var id ebpf.ProgramID
	for {
		next, err := ebpf.ProgramGetNextID(id)
		if err != nil {
			break
		}
		id = next
		p, err := ebpf.NewProgramFromID(next)
		if err != nil {
			continue
		}
		if st, err := p.Stats(); err == nil {
			if prev, ok := m.cnt[next]; ok && st.RunCount > prev {
				m.res.StatsOn = true
			}
			m.cnt[next] = st.RunCount
		}
		if !m.own[next] && relevantTypes[p.Type()] {
			foreign++
			if info, err := p.Info(); err == nil {
				m.seen[info.Name] = true
			}
		}
		p.Close()
	}
	m.mu.Lock()
	if foreign > m.res.Foreign {
		m.res.Foreign = foreign
	}
	m.mu.Unlock()
}

func (m *monitor) finish() disturbance {
	close(m.stop)
	<-m.done
	for n := range m.seen {
		m.res.ForeignNames = append(m.res.ForeignNames, n)
	}
	sort.Strings(m.res.ForeignNames)
	if len(m.res.ForeignNames) > 8 {
		m.res.ForeignNames = append(m.res.ForeignNames[:8], "...")
	}
	return m.res
}
