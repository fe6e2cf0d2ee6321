package cli

import (
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/dropspot/dropspot/internal/nsname"
)

// ifnameCache names interfaces of any namespace: an ifindex means nothing
// outside its own namespace, so the lookup goes through netlink there.
type ifnameCache struct {
	names map[[2]uint32]string
}

// maxIfnames bounds the cache; past it, names are looked up each time.
const maxIfnames = 4096

func newIfnameCache() *ifnameCache {
	return &ifnameCache{names: map[[2]uint32]string{}}
}

func (c *ifnameCache) lookup(ns, ifindex uint32) string {
	key := [2]uint32{ns, ifindex}
	if name, ok := c.names[key]; ok {
		return name
	}
	name := ""
	if path, ok := nsname.Paths()[uint64(ns)]; ok {
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
