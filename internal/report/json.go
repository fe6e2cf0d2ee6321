package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"

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
	b = append(b, `,"netns":`...)
	b = strconv.AppendUint(b, uint64(f.Netns), 10)
	b = append(b, `,"path":`...)
	b = appendString(b, f.Path)
	b = append(b, `,"stages":`...)
	b = appendStageCounts(b, f.hooked, &f.counts.Packets)
	b = append(b, `,"bytes":`...)
	b = appendStageCounts(b, f.hooked, &f.counts.Bytes)
	b = append(b, `,"drops":`...)
	b, err := appendList(b, f.Drops)
	if err != nil {
		return nil, err
	}
	b = append(b, `,"losses":`...)
	if b, err = appendList(b, f.Losses); err != nil {
		return nil, err
	}
	if f.Lost != nil {
		b = append(b, `,"lost":`...)
		if b, err = appendMarshal(b, f.Lost); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
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

// appendList appends a slice as encoding/json does. Most flows have no
// drops and no losses: their empty lists skip encoding/json.
func appendList[T any](b []byte, list []T) ([]byte, error) {
	if list != nil && len(list) == 0 {
		return append(b, "[]"...), nil
	}
	return appendMarshal(b, list)
}

func appendMarshal(b []byte, v any) ([]byte, error) {
	j, err := json.Marshal(v)
	return append(b, j...), err
}

// appendString appends s as a JSON string. Names, addresses and paths
// need no escaping; anything that might goes through encoding/json, which
// also escapes <, > and & (it always did in WriteJSON).
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c > '~' || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			j, _ := json.Marshal(s) // a string always encodes
			return append(b, j...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
