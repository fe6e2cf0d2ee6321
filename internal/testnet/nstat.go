package testnet

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Nstat returns the SNMP counters of side's namespace (what nstat(8) would
// show inside it), keyed "Proto.Field", e.g. "Udp.InDatagrams",
// "TcpExt.TW", "Ip6.InReceives", "Icmp6.InEchos". Diff two snapshots to get
// the ground truth for a generator's packets.
//
// Note that the Tcp.* counters count IPv4 and IPv6 together; Udp/Udp6,
// Ip/Ip6 and Icmp/Icmp6 are separate.
func Nstat(p *Pair, side Side) (map[string]uint64, error) {
	var counters map[string]uint64
	err := p.Do(side, func() (err error) {
		counters, err = readCounters()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("testnet: counters of %s: %w", p.name(side), err)
	}
	return counters, nil
}

// readCounters reads the SNMP counters of the calling thread's namespace.
func readCounters() (map[string]uint64, error) {
	counters := make(map[string]uint64)
	for _, f := range []struct {
		path  string
		parse func([]byte, map[string]uint64) error
	}{
		// thread-self, not self: /proc/self/net shows the namespace of the
		// process's main thread, not of this thread.
		{"/proc/thread-self/net/snmp", parseHeaderValue},
		{"/proc/thread-self/net/netstat", parseHeaderValue},
		{"/proc/thread-self/net/snmp6", parseNameValue},
	} {
		data, err := os.ReadFile(f.path)
		if err != nil {
			return nil, err
		}
		if err := f.parse(data, counters); err != nil {
			return nil, fmt.Errorf("%s: %w", f.path, err)
		}
	}
	return counters, nil
}

// parseHeaderValue parses the layout of /proc/net/snmp and /proc/net/netstat:
// per protocol, a line of field names and a line of values, both starting
// with "Proto:". Negative values are skipped: the only one, Tcp.MaxConn = -1,
// is a limit ("none"), not a counter.
func parseHeaderValue(data []byte, into map[string]uint64) error {
	lines := nonEmptyLines(data)
	if len(lines)%2 != 0 {
		return fmt.Errorf("odd number of lines (%d): want header/value pairs", len(lines))
	}
	for i := 0; i < len(lines); i += 2 {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) < 2 || !strings.HasSuffix(names[0], ":") || values[0] != names[0] || len(values) != len(names) {
			return fmt.Errorf("lines %d-%d: not a header/value pair: %q / %q", i+1, i+2, lines[i], lines[i+1])
		}
		proto := strings.TrimSuffix(names[0], ":")
		for j := 1; j < len(names); j++ {
			if strings.HasPrefix(values[j], "-") {
				if _, err := strconv.ParseInt(values[j], 10, 64); err == nil {
					continue
				}
			}
			v, err := strconv.ParseUint(values[j], 10, 64)
			if err != nil {
				return fmt.Errorf("line %d: %s.%s: %w", i+2, proto, names[j], err)
			}
			into[proto+"."+names[j]] = v
		}
	}
	return nil
}

// parseNameValue parses the layout of /proc/net/snmp6: one "Name value" per
// line, where Name is protocol and field run together ("Udp6InDatagrams").
// The protocol part ends with its "6", which gives keys in the same
// "Proto.Field" form as parseHeaderValue ("Udp6.InDatagrams").
func parseNameValue(data []byte, into map[string]uint64) error {
	for i, line := range nonEmptyLines(data) {
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return fmt.Errorf("line %d: want \"name value\": %q", i+1, line)
		}
		v, err := strconv.ParseUint(fields[1], 10, 64)
		if err != nil {
			return fmt.Errorf("line %d: %s: %w", i+1, fields[0], err)
		}
		name := fields[0]
		if k := strings.IndexByte(name, '6'); k > 0 && k < len(name)-1 {
			name = name[:k+1] + "." + name[k+1:]
		}
		into[name] = v
	}
	return nil
}

func nonEmptyLines(data []byte) []string {
	var lines []string
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			lines = append(lines, line)
		}
	}
	return lines
}
