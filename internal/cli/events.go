package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gopacket/gopacket"

	"github.com/dropspot/dropspot/internal/capture"
	"github.com/dropspot/dropspot/internal/flow"
	"github.com/dropspot/dropspot/internal/nsname"
	"github.com/dropspot/dropspot/internal/report"
	"github.com/dropspot/dropspot/internal/tracer"
)

// eventLine is one drop on the --events stream.
type eventLine struct {
	Time    string      `json:"time"`
	Netns   uint32      `json:"netns"`
	Ifindex uint32      `json:"ifindex"`
	Ifname  string      `json:"ifname,omitempty"`
	Flow    *eventFlow  `json:"flow,omitempty"` // absent for non-IP or malformed packets
	Kind    string      `json:"kind,omitempty"`
	Packets uint64      `json:"packets"`
	Drop    report.Drop `json:"drop"`
	Stack   []string    `json:"stack,omitempty"`
}

type eventFlow struct {
	Proto string `json:"proto"`
	Src   string `json:"src"`
	Sport uint16 `json:"sport"`
	Dst   string `json:"dst"`
	Dport uint16 `json:"dport"`
}

// sinks are where drop events go: the JSON line stream and/or pcapng.
type sinks struct {
	json *json.Encoder
	pcap *capture.Writer
	file *os.File // the pcapng file, when not stdout
}

func openSinks(f *watchFlags, stdout io.Writer) (*sinks, error) {
	s := &sinks{}
	if f.events {
		s.json = json.NewEncoder(stdout)
	}
	if f.pcap == "" {
		return s, nil
	}
	out := stdout
	if f.pcap != "-" {
		// Dropped packets may carry anything: readable by the owner only.
		file, err := os.OpenFile(f.pcap, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return nil, fmt.Errorf("-w: %w", err)
		}
		s.file, out = file, file
	}
	w, err := capture.NewWriter(out, f.snaplen)
	if err != nil {
		s.close()
		return nil, err
	}
	s.pcap = w
	return s, nil
}

func (s *sinks) close() error {
	var err error
	if s.pcap != nil {
		err = s.pcap.Flush()
	}
	if s.file != nil {
		err = errors.Join(err, s.file.Close())
	}
	return err
}

// consumeEvents sends every drop event to the sinks until ctx ends, or
// until limit events (if limit > 0), then calls done.
func consumeEvents(ctx context.Context, t *tracer.Tracer, names report.Namer, s *sinks, limit uint64, done func()) error {
	ifnames := nsname.NewIfnames()
	var (
		seen uint64
		werr error
	)
	err := t.Events(ctx, func(ev tracer.DropEvent) {
		if limit > 0 && seen >= limit {
			return
		}
		seen++
		d := ev.Drop
		named := names.Name(d)
		ifname := ""
		if d.Kind == flow.DropOfFlow {
			ifname = ifnames.Lookup(d.Flow.Netns, ev.Ifindex)
		}
		if s.json != nil {
			werr = errors.Join(werr, s.json.Encode(newEventLine(ev, named, ifname, names)))
		}
		if s.pcap != nil && len(ev.Packet) > 0 {
			werr = errors.Join(werr, s.pcap.Write(capture.Packet{
				CaptureInfo: gopacket.CaptureInfo{Timestamp: ev.Time, CaptureLength: len(ev.Packet),
					Length: max(int(ev.OrigLen), len(ev.Packet))},
				Data: ev.Packet, Netns: d.Flow.Netns, Ifindex: ev.Ifindex, Ifname: ifname,
				Comment: fmt.Sprintf("%s after %s at %s", named.Reason, named.Stage, named.Location),
			}))
		}
		if limit > 0 && seen == limit {
			done()
		}
	})
	return errors.Join(err, werr)
}

func newEventLine(ev tracer.DropEvent, named report.Drop, ifname string, names report.Namer) eventLine {
	d := ev.Drop
	line := eventLine{
		Time: ev.Time.UTC().Format(time.RFC3339Nano), Netns: d.Flow.Netns, Ifindex: ev.Ifindex,
		Ifname: ifname, Packets: d.Packets, Drop: named,
	}
	switch d.Kind {
	case flow.DropOfFlow:
		k := d.Flow
		line.Flow = &eventFlow{Proto: flow.ProtoName(k.Proto), Src: k.Src.String(), Sport: k.Sport,
			Dst: k.Dst.String(), Dport: k.Dport}
	case flow.DropNotIP:
		line.Kind = "not_ip"
	default:
		line.Kind = "malformed"
	}
	for _, pc := range ev.Stack {
		line.Stack = append(line.Stack, names.Location(pc))
	}
	return line
}
