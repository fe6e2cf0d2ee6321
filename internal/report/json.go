package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/dropspot/dropspot/internal/stage"
)

// jsonChunk is how much encoded JSON WriteJSON collects before it writes.
const jsonChunk = 256 << 10

// WriteJSON writes the report as one compact JSON document and a newline.
// The flows are encoded one at a time, from their counts, and written in
// chunks as they are: encoding/json built and indented the whole
// document (a gigabyte at 10^6 flows) in memory first.
func WriteJSON(w io.Writer, r *Report) error {
	// Everything but the flows is small: encoding/json writes it, and the
	// flows go in place of its null "flows" (the first field).
	rest := *r
	rest.Flows = nil
	tail, err := json.Marshal(&rest)
	if err != nil {
		return err
	}
	nullFlows := []byte(`{"flows":null`)
	if !bytes.HasPrefix(tail, nullFlows) {
		return errors.New(`report: "flows" must be the first field of the JSON report`)
	}
	buf := make([]byte, 0, jsonChunk+4096)
	if r.Flows == nil {
		buf = append(buf, nullFlows...)
	} else if buf, err = writeFlows(w, append(buf, `{"flows":`...), r.Flows); err != nil {
		return err
	}
	buf = append(buf, tail[len(nullFlows):]...)
	_, err = w.Write(append(buf, '\n'))
	return err
}

// writeFlows appends the flows' JSON array to buf, writing buf to w
// whenever it has a chunk, and returns what it has not written.
func writeFlows(w io.Writer, buf []byte, flows []Flow) ([]byte, error) {
	buf = append(buf, '[')
	for i := range flows {
		if i > 0 {
			buf = append(buf, ',')
		}
		var err error
		if buf, err = flows[i].appendJSON(buf); err != nil {
			return nil, err
		}
		if len(buf) >= jsonChunk {
			if _, err := w.Write(buf); err != nil {
				return nil, err
			}
			buf = buf[:0]
		}
	}
	return append(buf, ']'), nil
}

// MarshalJSON encodes the flow as WriteJSON does: from its counts, so
// that Stages and Bytes need not be filled.
func (f Flow) MarshalJSON() ([]byte, error) {
	return f.appendJSON(nil)
}

// appendJSON appends the flow's JSON object. It writes what encoding/json
// would make of the exported fields, but without reflection and without
// the two per-stage maps.
func (f *Flow) appendJSON(b []byte) ([]byte, error) {
	if f.counts == nil {
		// Neither built nor read by ReadJSON (decoded by json.Unmarshal,
		// or made by hand): the exported fields are all there is.
		type fields Flow
		return appendMarshal(b, (*fields)(f))
	}
	b = append(b, `{"conn":`...)
	b = strconv.AppendInt(b, int64(f.Conn), 10)
	b = append(b, `,"proto":`...)
	b = appendString(b, f.Proto)
	b = append(b, `,"src":`...)
	b = appendString(b, f.Src)
	b = append(b, `,"sport":`...)
	b = strconv.AppendUint(b, uint64(f.Sport), 10)
	b = append(b, `,"dst":`...)
	b = appendString(b, f.Dst)
	b = append(b, `,"dport":`...)
	b = strconv.AppendUint(b, uint64(f.Dport), 10)
	b = appendNonEmpty(b, `,"icmp":`, f.ICMP)
	b = append(b, `,"netns":`...)
	b = strconv.AppendUint(b, uint64(f.Netns), 10)
	b = append(b, `,"path":`...)
	b = appendString(b, f.Path)
	if f.Bridge != nil {
		b = appendBridgeJSON(b, f.Bridge)
	}
	if f.NAT != nil {
		b = appendNATJSON(b, f.NAT)
	}
	b = append(b, `,"stages":`...)
	b = appendStageCounts(b, f.hooked, &f.counts.Packets)
	b = append(b, `,"bytes":`...)
	b = appendStageCounts(b, f.hooked, &f.counts.Bytes)
	b = append(b, `,"drops":`...)
	b = appendArray(b, f.Drops, appendDrop)
	b = append(b, `,"benign":`...)
	b = appendArray(b, f.Benign, appendDrop)
	b = append(b, `,"losses":`...)
	b = appendArray(b, f.Losses, appendLoss)
	if f.Lost != nil {
		b = append(b, `,"lost":`...)
		b = appendLoss(b, f.Lost)
	}
	if f.InFlight != 0 {
		b = append(b, `,"in_flight":`...)
		b = strconv.AppendUint(b, f.InFlight, 10)
	}
	if f.TCP != nil {
		// Few flows have one: encoding/json is fast enough.
		var err error
		if b, err = appendMarshal(append(b, `,"tcp":`...), f.TCP); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendDrop and appendLoss write what encoding/json makes of a Drop and
// a Loss: at 10^6 flows that all lost packets, reflection over them was
// a third of the report's time.
func appendDrop(b []byte, d *Drop) []byte {
	b = append(b, `{"reason":`...)
	b = appendString(b, d.Reason)
	b = append(b, `,"stage":`...)
	b = appendString(b, d.Stage)
	b = append(b, `,"location":`...)
	b = appendString(b, d.Location)
	b = append(b, `,"count":`...)
	b = strconv.AppendUint(b, d.Count, 10)
	if d.Ifindex != 0 {
		b = append(b, `,"ifindex":`...)
		b = strconv.AppendUint(b, uint64(d.Ifindex), 10)
	}
	b = appendNonEmpty(b, `,"kernel_reason":`, d.KernelReason)
	b = appendNonEmpty(b, `,"explanation":`, d.Explanation)
	b = appendNonEmpty(b, `,"netfilter":`, d.Netfilter)
	if d.NoPayload {
		b = append(b, `,"no_payload":true`...)
	}
	return append(b, '}')
}

func appendLoss(b []byte, l *Loss) []byte {
	b = append(b, `{"from":`...)
	b = appendString(b, l.From)
	b = append(b, `,"to":`...)
	b = appendString(b, l.To)
	b = append(b, `,"packets":`...)
	b = strconv.AppendUint(b, l.Packets, 10)
	if len(l.Drops) > 0 {
		b = append(b, `,"drops":`...)
		b = appendArray(b, l.Drops, appendDrop)
	}
	b = append(b, `,"unexplained":`...)
	b = strconv.AppendUint(b, l.Unexplained, 10)
	return append(b, '}')
}

// appendNonEmpty appends an omitempty string field.
func appendNonEmpty(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	return appendString(append(b, key...), v)
}

// appendArray appends a slice as encoding/json does (nil is null).
func appendArray[T any](b []byte, list []T, each func([]byte, *T) []byte) []byte {
	if list == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = each(b, &list[i])
	}
	return append(b, ']')
}

// stageKeys are the stages' names as JSON object keys, colon included.
var stageKeys = func() (keys [stage.Count][]byte) {
	for s := range stage.Count {
		keys[s] = append(appendString(nil, s.String()), ':')
	}
	return keys
}()

// appendStageCounts appends a JSON object of the hooked stages' counts.
func appendStageCounts(b []byte, hooked stageSet, counts *[stage.Count]uint64) []byte {
	b = append(b, '{')
	sep := false
	for s := range stage.Count {
		if !hooked.has(s) {
			continue
		}
		if sep {
			b = append(b, ',')
		}
		sep = true
		b = append(b, stageKeys[s]...)
		b = strconv.AppendUint(b, counts[s], 10)
	}
	return append(b, '}')
}

func appendMarshal(b []byte, v any) ([]byte, error) {
	j, err := json.Marshal(v)
	return append(b, j...), err
}

// appendString appends s as a JSON string. Names, addresses, paths and
// explanations need no escaping; anything that might goes through
// encoding/json, which also escapes <, > and & (it always did in
// WriteJSON), invalid UTF-8 and U+2028/U+2029.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError || r == '\u2028' || r == '\u2029' {
				return appendEscaped(b, s)
			}
			i += size
			continue
		}
		if c < ' ' || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return appendEscaped(b, s)
		}
		i++
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func appendEscaped(b []byte, s string) []byte {
	j, _ := json.Marshal(s) // a string always encodes
	return append(b, j...)
}
