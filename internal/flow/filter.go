package flow

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/dropspot/dropspot/internal/bpf"
)

// Filter selects the flows the kernel side counts. The BPF programs apply
// it before any map write, so what it rejects costs no flow entry. Host
// and Port match either end, so both directions of a connection pass.
type Filter struct {
	Proto uint8      // 0 = any
	Host  netip.Addr // invalid = any
	Port  uint16     // 0 = any; TCP, UDP, UDP-Lite and SCTP only
	Netns uint32     // 0 = any
}

// Config is the filter as the BPF programs read it.
func (f Filter) Config() bpf.DropspotConfig {
	cfg := bpf.DropspotConfig{FilterProto: f.Proto, FilterPort: f.Port, FilterNetns: f.Netns}
	switch {
	case f.Host.Is4():
		cfg.FilterFamily = afInet
		a := f.Host.As4()
		copy(cfg.FilterHost[:], a[:])
	case f.Host.Is6():
		cfg.FilterFamily = afInet6
		cfg.FilterHost = f.Host.As16()
	}
	return cfg
}

// ParseNetns accepts a namespace as an inode number, "inode:N", or a path
// such as /proc/PID/ns/net or /run/netns/NAME, or a bare name of /run/netns.
func ParseNetns(s string) (uint32, error) {
	if n, err := strconv.ParseUint(strings.TrimPrefix(s, "inode:"), 10, 32); err == nil && n > 0 {
		return uint32(n), nil
	}
	path := s
	if !strings.Contains(s, "/") {
		path = "/run/netns/" + s
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(path, &fs); err != nil {
		return 0, fmt.Errorf("network namespace %q: %w", s, err)
	}
	if fs.Type != unix.NSFS_MAGIC {
		return 0, fmt.Errorf("%s is not a namespace file (want /proc/PID/ns/net, /run/netns/NAME or inode:N)", s)
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("network namespace %q: %w", s, err)
	}
	return uint32(st.Ino), nil
}
