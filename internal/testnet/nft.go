package testnet

import (
	"bytes"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"

	"github.com/dropspot/dropspot/internal/netns"
)

// Exec runs a command in the named namespace, with stdin as its input,
// and returns its output. Tools that configure a namespace (nft,
// iptables, conntrack) are what NAT tests and the demo need; their own
// ground truth (nft counters, conntrack entries) is read the same way.
// The command is started from a thread inside the namespace (the child
// inherits it): no `ip netns exec`, which the kernel matrix's busybox
// lacks.
func Exec(name, stdin string, command ...string) (string, error) {
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := netns.Do(netns.Named(name), cmd.Run); err != nil {
		return "", fmt.Errorf("testnet: %s in %s: %w: %s", strings.Join(command, " "), name, err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), nil
}

// Nft loads an nft script into the named namespace.
func Nft(netns, script string) error {
	_, err := Exec(netns, script, "nft", "-f", "-")
	return err
}

var counterPackets = regexp.MustCompile(`counter packets (\d+)`)

// NftCounter is the packets of the (first) counter in chain `chain` of
// table `table` (family inet, ip or ip6) in the named namespace. A rule's
// own counter, not a named one: those need nft_objref, a module the kernel
// matrix's older kernels would have to load.
func NftCounter(netns, family, table, chain string) (uint64, error) {
	out, err := Exec(netns, "", "nft", "list", "chain", family, table, chain)
	if err != nil {
		return 0, err
	}
	m := counterPackets.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("testnet: chain %s %s %s in %s: no counter in %q", family, table, chain, netns, out)
	}
	return strconv.ParseUint(m[1], 10, 64)
}
