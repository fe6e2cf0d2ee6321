package testnet

import (
	"bytes"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// Exec runs a command in the named namespace (`ip netns exec`), with
// stdin as its input, and returns its output. Tools that configure a
// namespace (nft, iptables, conntrack) are what NAT tests and the demo
// need; their own ground truth (nft counters, conntrack entries) is read
// the same way.
func Exec(netns, stdin string, command ...string) (string, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", netns}, command...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("testnet: %s in %s: %w: %s", strings.Join(command, " "), netns, err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), nil
}

// Nft loads an nft script into the named namespace.
func Nft(netns, script string) error {
	_, err := Exec(netns, script, "nft", "-f", "-")
	return err
}

var counterPackets = regexp.MustCompile(`packets (\d+)`)

// NftCounter is the packets of the named counter `name` of table `table`
// (family inet, ip or ip6) in the named namespace.
func NftCounter(netns, family, table, name string) (uint64, error) {
	out, err := Exec(netns, "", "nft", "list", "counter", family, table, name)
	if err != nil {
		return 0, err
	}
	m := counterPackets.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("testnet: counter %s %s %s in %s: no packets in %q", family, table, name, netns, out)
	}
	return strconv.ParseUint(m[1], 10, 64)
}
