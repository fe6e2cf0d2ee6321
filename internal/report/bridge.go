package report

import (
	"strconv"

	"github.com/dropspot/dropspot/internal/flow"
)

// Bridge is the Linux bridge that forwarded a flow direction from port to
// port (path "bridge"), and the ports the packets entered and left it by,
// in the flow's namespace. A device whose name could not be found (its
// namespace is gone) is "if" and its ifindex; Name is "" when the ports
// are no longer in a bridge.
type Bridge struct {
	Name string `json:"name"`
	In   string `json:"in"`
	Out  string `json:"out"`
}

// Links names network devices of any namespace and finds their master
// (nsname.Ifnames).
type Links interface {
	Link(netns, ifindex uint32) (name string, master uint32)
}

// bridges names the bridge and ports of every bridged flow direction.
func (n Namer) bridges(ports map[flow.Key]flow.BridgePorts) map[flow.Key]*Bridge {
	if len(ports) == 0 {
		return nil
	}
	out := make(map[flow.Key]*Bridge, len(ports))
	for k, p := range ports {
		b := &Bridge{}
		var inMaster, outMaster uint32
		b.In, inMaster = n.link(k.Netns, p.In)
		b.Out, outMaster = n.link(k.Netns, p.Out)
		if master := max(inMaster, outMaster); master != 0 {
			b.Name, _ = n.link(k.Netns, master)
		}
		out[k] = b
	}
	return out
}

func (n Namer) link(netns, ifindex uint32) (name string, master uint32) {
	if n.Links != nil {
		name, master = n.Links.Link(netns, ifindex)
	}
	if name == "" {
		name = "if" + strconv.FormatUint(uint64(ifindex), 10)
	}
	return name, master
}

// bridgeNetfilter is where a firewall drop of a bridged flow happened:
// no stage of the bridge path is a netfilter hook, and the IP hooks see
// bridged frames only through br_netfilter.
const bridgeNetfilter = "a bridge-family chain (nft bridge, ebtables) or, with br_netfilter " +
	"(bridge-nf-call-iptables), PRE_ROUTING, FORWARD or POST_ROUTING; " + ruleUnobservable

// placeBridgedDrops corrects what Namer.Name said of a bridged flow's
// firewall drops, from their stage alone.
func placeBridgedDrops(drops []Drop) {
	for i := range drops {
		if drops[i].Netfilter != "" {
			drops[i].Netfilter = bridgeNetfilter
		}
	}
}

// appendBridgeText appends " bridge-name: in → out" to the path's name.
func appendBridgeText(b []byte, br *Bridge) []byte {
	if br.Name != "" {
		b = append(b, ' ')
		b = append(b, br.Name...)
	}
	b = append(b, ": "...)
	b = append(b, br.In...)
	b = append(b, " → "...)
	return append(b, br.Out...)
}

// appendBridgeJSON appends the "bridge" member of a bridged flow.
func appendBridgeJSON(b []byte, br *Bridge) []byte {
	b = append(b, `,"bridge":{"name":`...)
	b = appendString(b, br.Name)
	b = append(b, `,"in":`...)
	b = appendString(b, br.In)
	b = append(b, `,"out":`...)
	b = appendString(b, br.Out)
	return append(b, '}')
}
