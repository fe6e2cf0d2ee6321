package testnet

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Legacy ethtool commands that set one offload each (linux/ethtool.h):
// simpler than ETHTOOL_SFEATURES, and no ethtool binary needed (the
// kernel matrix's guest has none).
const (
	ethtoolSTSO = 0x1f
	ethtoolSGSO = 0x24
	ethtoolSGRO = 0x2c
)

// SetOffloads turns TSO, GSO and GRO of the device ifname on or off. Run
// it inside the device's namespace (Pair.Do, Chain.Do).
func SetOffloads(ifname string, on bool) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var data uint32
	if on {
		data = 1
	}
	for _, cmd := range []uint32{ethtoolSTSO, ethtoolSGSO, ethtoolSGRO} {
		value := struct{ cmd, data uint32 }{cmd, data}
		var ifr struct {
			name [unix.IFNAMSIZ]byte
			data unsafe.Pointer
			_    [16]byte // the rest of struct ifreq's union
		}
		copy(ifr.name[:], ifname)
		ifr.data = unsafe.Pointer(&value)
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); errno != 0 {
			return fmt.Errorf("testnet: ethtool command %#x on %s: %w", cmd, ifname, errno)
		}
	}
	return nil
}
