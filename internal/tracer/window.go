package tracer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/dropspot/dropspot/internal/bpf"
)

// The counting window (bpf/lib/window.h): a packet is counted at every
// stage of its path through a namespace, or at none. User space opens the
// window once every hook is attached and closes it at stop.
const (
	// settleTime lets packets that were between stages when the hooks
	// attached reach one, which marks them as begun before the window.
	settleTime = 50 * time.Millisecond
	// generationPeriod is how often paths' "moved recently" mark ages: an
	// admitted packet that moved within the last one or two periods and
	// has not reached the end of its path is in flight.
	generationPeriod = 500 * time.Millisecond
	// drainPoll and drainQuiet: at stop, the counts are read every
	// drainPoll until they stay the same for drainQuiet (admitted packets
	// have finished their paths), at most drainLimit.
	drainPoll  = 10 * time.Millisecond
	drainQuiet = 50 * time.Millisecond
	drainLimit = 2 * time.Second
)

// window drives the BPF side's window map.
type window struct {
	m     *ebpf.Map
	state bpf.DropspotWindow
	stop  chan struct{}
	done  chan struct{}
}

func newWindow(m *ebpf.Map) *window {
	return &window{m: m, stop: make(chan struct{}), done: make(chan struct{})}
}

func (w *window) write() error {
	if err := w.m.Update(uint32(0), &w.state, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("counting window: %w", err)
	}
	return nil
}

// open starts admitting packets, after settleTime, and ages paths every
// generationPeriod until close. gated: some hooks are per namespace.
func (w *window) open(gated bool) error {
	if gated {
		w.state.NetnsGated = 1
	}
	if err := w.write(); err != nil {
		return err
	}
	time.Sleep(settleTime)
	w.state.State = uint32(bpf.DropspotWindowStateWINDOW_OPEN)
	if err := w.write(); err != nil {
		return err
	}
	go w.age()
	return nil
}

func (w *window) age() {
	defer close(w.done)
	tick := time.NewTicker(generationPeriod)
	defer tick.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-tick.C:
		}
		// Only this goroutine writes the generation once the window is
		// open; close writes the state after stopping it.
		w.state.Generation++
		if err := w.write(); err != nil {
			return
		}
	}
}

// generation is the BPF side's current generation (the aging goroutine
// owns the Go copy).
func (w *window) generation() (uint32, error) {
	var cur bpf.DropspotWindow
	if err := w.m.Lookup(uint32(0), &cur); err != nil {
		return 0, fmt.Errorf("counting window: %w", err)
	}
	return cur.Generation, nil
}

// close stops admitting new packets and ends the aging.
func (w *window) close() error {
	select {
	case <-w.stop:
		return nil
	default:
	}
	close(w.stop)
	<-w.done
	w.state.State = uint32(bpf.DropspotWindowStateWINDOW_CLOSING)
	return w.write()
}

// netnsState marks a namespace hooked (its packets may be admitted) or
// not.
func netnsState(m *ebpf.Map, log *slog.Logger) func(ino uint32, hooked bool) {
	return func(ino uint32, hooked bool) {
		if !hooked {
			if err := m.Delete(ino); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				log.Debug("forget namespace", "netns", ino, "err", err)
			}
			return
		}
		if err := m.Update(ino, uint32(bpf.DropspotNetnsStateNETNS_READY), ebpf.UpdateAny); err != nil {
			// The table is full: the namespace's packets stay uncounted
			// (netns_unhooked), never half counted.
			log.Warn("cannot mark network namespace hooked", "netns", ino, "err", err)
		}
	}
}

// watchNetnsNews wakes the namespace watcher whenever the kernel reports
// a packet of a namespace it has not seen hooked, until ctx ends.
func (t *Tracer) watchNetnsNews(ctx context.Context) {
	rd, err := ringbuf.NewReader(t.maps.Maps[bpf.DropspotMapNetnsNews])
	if err != nil {
		return
	}
	go func() {
		<-ctx.Done()
		rd.Close()
	}()
	for {
		if _, err := rd.Read(); err != nil {
			if errors.Is(err, os.ErrClosed) || errors.Is(err, ringbuf.ErrClosed) {
				return
			}
			continue
		}
		t.Plan.WakeNetns()
	}
}

// Drain closes the counting window and waits until the packets it
// admitted have finished their paths (the counts stop changing, at most
// drainLimit), so the next Snapshot is the final one. Packets still on
// their way then are reported in flight, never as loss.
func (t *Tracer) Drain(ctx context.Context) error {
	if err := t.window.close(); err != nil {
		return err
	}
	deadline := time.Now().Add(drainLimit)
	last, err := t.stageTotal()
	if err != nil {
		return err
	}
	quietSince := time.Now()
	for time.Now().Before(deadline) && time.Since(quietSince) < drainQuiet {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(drainPoll):
		}
		n, err := t.stageTotal()
		if err != nil {
			return err
		}
		if n != last {
			last, quietSince = n, time.Now()
		}
	}
	return nil
}

// stageTotal is every stage's packet count added up: it moves only while
// admitted packets do.
func (t *Tracer) stageTotal() (uint64, error) {
	var per []bpf.DropspotStageTotals
	var sum uint64
	m := t.maps.Maps[bpf.DropspotMapTotals]
	for i := range bpf.DropspotStageNR_STAGES {
		if err := m.Lookup(uint32(i), &per); err != nil {
			return 0, fmt.Errorf("read stage totals: %w", err)
		}
		for _, v := range per {
			sum += v.Packets
		}
	}
	return sum, nil
}
