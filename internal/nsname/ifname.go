package nsname

import (
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Ifnames names interfaces of any namespace: an ifindex means nothing
// outside its own namespace, so the lookup goes through netlink there.
// Safe for concurrent use.
type Ifnames struct {
	mu    sync.Mutex
	names map[[2]uint32]string
}

// maxIfnames bounds the cache; past it, names are looked up each time.
const maxIfnames = 4096

// NewIfnames returns an empty cache.
func NewIfnames() *Ifnames {
	return &Ifnames{names: map[[2]uint32]string{}}
}

// Lookup names ifindex of the namespace with inode ns, "" if unknown.
func (c *Ifnames) Lookup(ns, ifindex uint32) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := [2]uint32{ns, ifindex}
	if name, ok := c.names[key]; ok {
		return name
	}
	name := ""
	if path, ok := Paths()[uint64(ns)]; ok {
		if h, err := netns.GetFromPath(path); err == nil {
			if nl, err := netlink.NewHandleAt(h); err == nil {
				if l, err := nl.LinkByIndex(int(ifindex)); err == nil {
					name = l.Attrs().Name
				}
				nl.Close()
			}
			h.Close()
		}
	}
	if len(c.names) < maxIfnames {
		c.names[key] = name
	}
	return name
}
