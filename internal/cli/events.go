package cli

import (
	"fmt"
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
	Time    string     `json:"time"`
	Netns   uint32     `json:"netns"`
	Ifindex uint32     `json:"ifindex"`
	Ifname  string     `json:"ifname,omitempty"`
	Flow    *eventFlow `json:"flow,omitempty"` // absent for non-IP or malformed packets
	Kind    string     `json:"kind,omitempty"`
	Packets uint64     `json:"packets"`
	// Benign: a free that lost nothing (report.BenignAlone); not counted
	// by -c.
	Benign bool        `json:"benign,omitempty"`
	Drop   report.Drop `json:"drop"`
	Stack  []string    `json:"stack,omitempty"`
}

type eventFlow struct {
	Proto string `json:"proto"`
	Src   string `json:"src"`
	Sport uint16 `json:"sport"`
	Dst   string `json:"dst"`
	Dport uint16 `json:"dport"`
	ICMP  string `json:"icmp,omitempty"` // as in the report
}

// eventWriter sends each drop event to the sinks and ends the run (done)
// after limit events, if limit > 0.
type eventWriter struct {
	names   report.Namer
	ifnames *nsname.Ifnames
	sinks   *sinks
	limit   uint64
	done    func()
	seen    uint64
	err     error // the first failed write
}

func newEventWriter(names report.Namer, s *sinks, limit uint64, done func()) *eventWriter {
	return &eventWriter{names: names, ifnames: nsname.NewIfnames(), sinks: s, limit: limit, done: done}
}

func (w *eventWriter) write(ev tracer.DropEvent) {
	if w.limit > 0 && w.seen >= w.limit {
		return
	}
	d := ev.Drop
	named := w.names.Name(d)
	explanation, benign := report.BenignAlone(named)
	if benign {
		named.Explanation = explanation
	} else {
		w.seen++
	}
	ifname := ""
	if d.Kind == flow.DropOfFlow {
		ifname = w.ifnames.Lookup(d.Flow.Netns, ev.Ifindex)
	}
	var line *eventLine
	if w.sinks.json != nil {
		l := newEventLine(ev, named, ifname, w.names)
		l.Benign = benign
		line = &l
	}
	var pkt *capture.Packet
	if w.sinks.pcap != nil && len(ev.Packet) > 0 {
		pkt = &capture.Packet{
			CaptureInfo: gopacket.CaptureInfo{Timestamp: ev.Time, CaptureLength: len(ev.Packet),
				Length: max(int(ev.OrigLen), len(ev.Packet))},
			Data: ev.Packet, Netns: d.Flow.Netns, Ifindex: ev.Ifindex, Ifname: ifname,
			Comment: eventComment(named, benign),
		}
	}
	if err := w.sinks.put(line, pkt); err != nil && w.err == nil {
		w.err = err
	}
	if w.limit > 0 && w.seen == w.limit {
		w.done()
	}
}

// eventComment is a captured packet's pcapng comment.
func eventComment(d report.Drop, benign bool) string {
	c := fmt.Sprintf("%s after %s at %s", d.Reason, d.Stage, d.Location)
	if benign {
		c += " (benign: nothing lost)"
	}
	return c
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
			Dst: k.Dst.String(), Dport: k.Dport, ICMP: k.ICMPName()}
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
