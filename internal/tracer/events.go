package tracer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/dropspot/dropspot/internal/bpf"
	"github.com/dropspot/dropspot/internal/flow"
)

// DropEvent is one dropped packet (or GSO super-packet) as it happened.
type DropEvent struct {
	Time    time.Time
	Drop    flow.Drop // Packets is the wire packets of this one skb
	Ifindex uint32
	Stack   []uint64 // kernel return addresses, innermost first; nil without --stack
	// Packet is the start of the packet from its IP header (Config.Snaplen
	// bytes at most; only what was in the linear part); OrigLen its IP length.
	Packet  []byte
	OrigLen uint32
}

// EventStream delivers drop events from the ring buffer, on a goroutine of
// its own, until Drain.
type EventStream struct {
	rd   *ringbuf.Reader
	done chan struct{} // closed when the goroutine has delivered its last event
	err  error         // why it stopped early; read after done
}

// StartEvents delivers drop events to fn until Drain. It needs the stream
// enabled (Config.EventsRate); events the buffer had no room for are
// counted in the snapshot's Overflow.EventsLost.
func (t *Tracer) StartEvents(fn func(DropEvent)) (*EventStream, error) {
	rd, err := ringbuf.NewReader(t.maps.Maps[bpf.DropspotMapEvents])
	if err != nil {
		return nil, fmt.Errorf("open event ring buffer: %w", err)
	}
	s := &EventStream{rd: rd, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.err = deliver(rd, t.maps.Maps[bpf.DropspotMapStacks], fn)
	}()
	return s, nil
}

// Drain delivers every event in the ring buffer, waits for the last to be
// delivered, and closes the stream. Called once the drop hook has stopped
// making events, it loses none: events reserved before that are committed
// and read, never cut off by closing the reader under them.
func (s *EventStream) Drain() error {
	if err := s.rd.Flush(); err != nil {
		// The reader would wait forever: closing it is the only way out,
		// and what it still held is lost.
		s.rd.Close()
		<-s.done
		return fmt.Errorf("drain events: %w", err)
	}
	<-s.done
	return errors.Join(s.err, s.rd.Close())
}

// deliver reads events until the reader is flushed (and then has returned
// every record the ring buffer held) or closed.
func deliver(rd *ringbuf.Reader, stacks *ebpf.Map, fn func(DropEvent)) error {
	// Event times are CLOCK_MONOTONIC; anchor them to the wall clock once.
	var mono unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono)
	bootToWall := time.Now().Add(-time.Duration(mono.Nano()))
	for {
		rec, err := rd.Read()
		if errors.Is(err, ringbuf.ErrFlushed) || errors.Is(err, ringbuf.ErrClosed) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read event: %w", err)
		}
		var raw bpf.DropspotDropEvent
		r := bytes.NewReader(rec.RawSample)
		if err := binary.Read(r, binary.NativeEndian, &raw); err != nil {
			return fmt.Errorf("decode event: %w", err)
		}
		ev := DropEvent{
			Time:    bootToWall.Add(time.Duration(raw.TimeNs)),
			Drop:    flow.DropFromBPF(raw.Key, uint64(raw.Segs)),
			Ifindex: raw.Key.Ifindex,
			OrigLen: raw.Origlen,
		}
		if raw.Caplen > 0 {
			ev.Packet = make([]byte, raw.Caplen)
			if _, err := io.ReadFull(r, ev.Packet); err != nil {
				return fmt.Errorf("decode event packet: %w", err)
			}
		}
		if raw.StackId >= 0 {
			ev.Stack = readStack(stacks, uint32(raw.StackId))
		}
		fn(ev)
	}
}

func readStack(m *ebpf.Map, id uint32) []uint64 {
	var frames [127]uint64
	if err := m.Lookup(id, &frames); err != nil {
		return nil
	}
	var out []uint64
	for _, f := range frames {
		if f == 0 {
			break
		}
		out = append(out, f)
	}
	return out
}
