package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/dropspot/dropspot/internal/flow"
	"github.com/dropspot/dropspot/internal/stage"
)

// ReadJSON reads a report saved with WriteJSON (`watch --json`) so it can
// be rendered again.
// Anything else is refused with one line that says what it is.
func ReadJSON(r io.Reader) (*Report, error) {
	br := bufio.NewReaderSize(r, sniffBytes)
	head, _ := br.Peek(sniffBytes) // to say what it is, if no report
	var rep Report
	dec := json.NewDecoder(br)
	err := dec.Decode(&rep)
	// Every report has both: the flows, if only [], and at least one hook
	// (a run with none fails before it reports).
	if err != nil || rep.Flows == nil || len(rep.Hooks) == 0 {
		return nil, fmt.Errorf("not a dropspot report (dropspot watch --json): %s", whatIs(head, err))
	}
	if dec.More() {
		return nil, errors.New("not a dropspot report (dropspot watch --json): a report followed by more data")
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

// sniffBytes is how much of the input tells what it is when it is no
// report.
const sniffBytes = 4096

// whatIs describes what a file that is not a report holds, from its first
// bytes and the error decoding it as a report.
func whatIs(head []byte, decodeErr error) string {
	if len(bytes.TrimSpace(head)) == 0 {
		return "the file is empty"
	}
	var syntax *json.SyntaxError
	if errors.As(decodeErr, &syntax) {
		return fmt.Sprintf("not JSON (%v at byte %d)", syntax, syntax.Offset)
	}
	var v any
	if err := json.NewDecoder(bytes.NewReader(head)).Decode(&v); err != nil {
		// Its first value is longer than the head.
		if decodeErr != nil {
			return decodeErr.Error()
		}
		return "a JSON document without \"flows\" and \"hooks\""
	}
	switch v := v.(type) {
	case map[string]any:
		if _, ok := v["drop"]; ok {
			return "a --events stream (one JSON line per drop), not a report"
		}
		if len(v) == 0 {
			return "an empty JSON object"
		}
		keys := slices.Sorted(maps.Keys(v))
		if len(keys) > 6 {
			keys = append(keys[:6], "...")
		}
		return fmt.Sprintf("a JSON object with keys %s; a report has \"flows\" and \"hooks\"", strings.Join(keys, ", "))
	case []any:
		return "a JSON array"
	case string:
		return "a JSON string"
	case float64:
		return "a JSON number"
	case bool:
		return fmt.Sprintf("JSON %v", v)
	default:
		return "JSON null"
	}
}
