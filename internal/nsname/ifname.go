package nsname

import (
	"sync"

	"github.com/vishvananda/netlink"

	"github.com/dropspot/dropspot/internal/netns"
)

// Ifnames names interfaces of any namespace: an ifindex means nothing
// outside its own namespace, so the lookup goes through netlink there.
// Safe for concurrent use.
type Ifnames struct {
	mu    sync.Mutex
	links map[[2]uint32]link
}

// link is what Ifnames knows of one interface.
type link struct {
	name   string
	master uint32 // ifindex of the bridge (bond, VRF ...) it is enslaved to, 0 if none
}

// maxIfnames bounds the cache; past it, names are looked up each time.
const maxIfnames = 4096

// NewIfnames returns an empty cache.
func NewIfnames() *Ifnames {
	return &Ifnames{links: map[[2]uint32]link{}}
}

// Lookup names ifindex of the namespace with inode ns, "" if unknown.
func (c *Ifnames) Lookup(ns, ifindex uint32) string {
	return c.get(ns, ifindex).name
}

// Link names ifindex of the namespace with inode ns ("" if unknown) and
// gives the ifindex of its master device (0 if none or unknown).
func (c *Ifnames) Link(ns, ifindex uint32) (name string, master uint32) {
	l := c.get(ns, ifindex)
	return l.name, l.master
}

func (c *Ifnames) get(ns, ifindex uint32) link {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := [2]uint32{ns, ifindex}
	if l, ok := c.links[key]; ok {
		return l
	}
	l := lookup(ns, ifindex)
	if len(c.links) < maxIfnames {
		c.links[key] = l
	}
	return l
}

// lookup asks netlink inside namespace ns.
func lookup(ns, ifindex uint32) link {
	path, ok := netns.Paths()[ns]
	if !ok {
		return link{}
	}
	var l netlink.Link
	if err := netns.Do(path, func() (err error) {
		l, err = netlink.LinkByIndex(int(ifindex))
		return err
	}); err != nil {
		return link{}
	}
	return link{name: l.Attrs().Name, master: uint32(l.Attrs().MasterIndex)}
}
