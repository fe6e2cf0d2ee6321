// Package netns is dropspot's one place for network namespaces: where the
// named ones live, running code inside one, a namespace's inode and cookie,
// finding every namespace on the host, and reading the --netns forms.
package netns

import (
	"fmt"
	"path/filepath"

	vns "github.com/vishvananda/netns"
)

// Dir is where named namespaces live (`ip netns add`, testnet): their nsfs
// files are bind-mounted here.
const Dir = "/run/netns"

// Self is the nsfs file of dropspot's own namespace.
const Self = "/proc/self/ns/net"

// Named is the path of the namespace `ip netns` knows as name.
func Named(name string) string { return filepath.Join(Dir, name) }

// CreateNamed makes a namespace and bind-mounts it as Named(name), like
// `ip netns add`, without moving any thread of the caller into it. The
// handle (for netlink.NewHandleAt and NsFd) is the caller's to close.
func CreateNamed(name string) (vns.NsHandle, error) {
	h := vns.None()
	err := Do("", func() (err error) {
		h, err = vns.NewNamed(name) // enters it; Do brings the thread back
		return err
	})
	if err != nil {
		return vns.None(), fmt.Errorf("create netns %s: %w", name, err)
	}
	return h, nil
}

// DeleteNamed unmounts and removes Named(name); the namespace itself dies
// with its last process, socket or open file.
func DeleteNamed(name string) error { return vns.DeleteNamed(name) }
