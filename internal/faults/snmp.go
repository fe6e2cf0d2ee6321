package faults

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// SNMP returns the protocol counters of ns, what nstat(8) would show there,
// keyed "Proto.Field": "Udp.NoPorts", "TcpExt.IPReversePathFilter",
// "Ip6.InHdrErrors". Tcp.* counts IPv4 and IPv6 together; Ip/Ip6,
// Udp/Udp6 and Icmp/Icmp6 are separate.
func SNMP(ns Netns) (map[string]uint64, error) {
	counters := map[string]uint64{}
	err := ns.Do(func() error {
		for _, f := range []struct {
			path  string
			parse func(string, map[string]uint64) error
		}{
			// thread-self: /proc/self/net is the main thread's namespace.
			{"/proc/thread-self/net/snmp", parseTable},
			{"/proc/thread-self/net/netstat", parseTable},
			{"/proc/thread-self/net/snmp6", parsePairs},
		} {
			data, err := os.ReadFile(f.path)
			if err != nil {
				return err
			}
			if err := f.parse(string(data), counters); err != nil {
				return fmt.Errorf("%s: %w", f.path, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("faults: counters of %v: %w", ns, err)
	}
	return counters, nil
}

// parseTable reads /proc/net/snmp and netstat: per protocol a line of
// names and a line of values, both led by "Proto:". Negative values
// (Tcp.MaxConn = -1, a limit) are not counters and are skipped.
func parseTable(text string, into map[string]uint64) error {
	lines := strings.FieldsFunc(text, func(r rune) bool { return r == '\n' })
	if len(lines)%2 != 0 {
		return fmt.Errorf("%d lines: want name/value pairs", len(lines))
	}
	for i := 0; i < len(lines); i += 2 {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) < 2 || len(names) != len(values) || names[0] != values[0] || !strings.HasSuffix(names[0], ":") {
			return fmt.Errorf("line %d: not a name/value pair", i+1)
		}
		proto := strings.TrimSuffix(names[0], ":")
		for j := 1; j < len(names); j++ {
			if strings.HasPrefix(values[j], "-") {
				continue
			}
			v, err := strconv.ParseUint(values[j], 10, 64)
			if err != nil {
				return fmt.Errorf("%s.%s: %w", proto, names[j], err)
			}
			into[proto+"."+names[j]] = v
		}
	}
	return nil
}

// parsePairs reads /proc/net/snmp6: "Udp6InDatagrams 12" per line; the
// protocol ends at its "6".
func parsePairs(text string, into map[string]uint64) error {
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return fmt.Errorf("not \"name value\": %q", line)
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			return fmt.Errorf("%s: %w", f[0], err)
		}
		name := f[0]
		if k := strings.IndexByte(name, '6'); k > 0 && k < len(name)-1 {
			name = name[:k+1] + "." + name[k+1:]
		}
		into[name] = v
	}
	return nil
}
