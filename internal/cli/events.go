package cli

import (
	"context"
	"encoding/json"
	"io"
	"time"

	"github.com/dropspot/dropspot/internal/flow"
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

// streamEvents writes one JSON line per drop until ctx ends.
func streamEvents(ctx context.Context, t *tracer.Tracer, names report.Namer, w io.Writer) error {
	enc := json.NewEncoder(w)
	ifnames := newIfnameCache()
	var werr error
	err := t.Events(ctx, func(ev tracer.DropEvent) {
		d := ev.Drop
		line := eventLine{
			Time:    ev.Time.UTC().Format(time.RFC3339Nano),
			Netns:   d.Flow.Netns,
			Ifindex: ev.Ifindex,
			Packets: d.Packets,
			Drop:    names.Name(d),
		}
		switch d.Kind {
		case flow.DropOfFlow:
			k := d.Flow
			line.Flow = &eventFlow{Proto: flow.ProtoName(k.Proto), Src: k.Src.String(), Sport: k.Sport,
				Dst: k.Dst.String(), Dport: k.Dport}
			line.Ifname = ifnames.lookup(k.Netns, ev.Ifindex)
		case flow.DropNotIP:
			line.Kind = "not_ip"
		default:
			line.Kind = "malformed"
		}
		for _, pc := range ev.Stack {
			line.Stack = append(line.Stack, names.Location(pc))
		}
		if err := enc.Encode(line); err != nil && werr == nil {
			werr = err
		}
	})
	if err != nil {
		return err
	}
	return werr
}
