package testnet

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
)

// NftDrop is an nft rule in one namespace that drops every k-th TCP
// segment carrying data (longer than 100 bytes: no bare ACK, SYN or FIN)
// to one address, and counts what it dropped: deterministic loss with its
// own ground truth (this kernel has no netem). Its counter counts skbs:
// turn segmentation offloads off (SetOffloads) for it to count segments.
type NftDrop struct {
	in    func(func() error) error // runs fn in the rule's namespace
	where string
	table string
}

// NewNftDrop adds the rule at hook ("input", "forward", "output") in the
// namespace that in runs functions in (Chain.Do), where names it in
// errors. It needs the nft binary, which runs in the namespace of the
// thread that starts it: no `ip netns exec` (the kernel matrix's guest
// has no iproute2).
func NewNftDrop(in func(func() error) error, where, hook string, dst netip.Addr, k int) (*NftDrop, error) {
	if k < 1 {
		return nil, fmt.Errorf("testnet: nft drop every %d-th segment: want k >= 1", k)
	}
	d := &NftDrop{in: in, where: where, table: fmt.Sprintf("dropspot_test_%06x", rand.Uint32()&0xffffff)}
	family := "ip"
	if dst.Is6() {
		family = "ip6"
	}
	rules := fmt.Sprintf(`table inet %s {
	chain c {
		type filter hook %s priority 0; policy accept;
		meta l4proto 6 %s daddr %s meta length > 100 numgen inc mod %d 0 counter drop
	}
}
`, d.table, hook, family, dst, k)
	if _, err := d.nft(rules, "-f", "-"); err != nil {
		return nil, err
	}
	return d, nil
}

var nftCounter = regexp.MustCompile(`counter packets (\d+) bytes`)

// Dropped is the rule's counter: the segments (skbs) it dropped.
func (d *NftDrop) Dropped() (uint64, error) {
	out, err := d.nft("", "list", "table", "inet", d.table)
	if err != nil {
		return 0, err
	}
	m := nftCounter.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("testnet: no counter in nft table %s: %s", d.table, out)
	}
	return strconv.ParseUint(string(m[1]), 10, 64)
}

// Close deletes the rule's table.
func (d *NftDrop) Close() error {
	_, err := d.nft("", "delete", "table", "inet", d.table)
	return err
}

func (d *NftDrop) nft(stdin string, args ...string) ([]byte, error) {
	var out []byte
	err := d.in(func() error {
		cmd := exec.Command("nft", args...)
		cmd.Stdin = bytes.NewBufferString(stdin)
		var err error
		out, err = cmd.CombinedOutput()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("testnet: nft %v in %s: %w: %s", args, d.where, err, out)
	}
	return out, nil
}
