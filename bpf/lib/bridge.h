/* Linux bridges. A frame a bridge forwards from one port to another is
 * counted at the ports' device stages only (rx.driver, rx.core on the port
 * it came in by; tx.* on the port it leaves by), and its flow is marked in
 * the bridged map with the two ports, so user space names the path
 * "bridge" (no stage tells: the bridge has no tracepoint, and netfilter
 * BPF links refuse the bridge family, EAFNOSUPPORT on 6.18). Three things
 * would count bridges wrongly otherwise:
 *  - br_netfilter (bridge-nf-call-iptables/ip6tables) runs the IP
 *    netfilter hooks PRE_ROUTING, FORWARD and POST_ROUTING over bridged
 *    frames: they are no IP receive, forward or output;
 *  - a frame the bridge delivers to its own IP stack is received a second
 *    time, on the bridge device (br_pass_frame_up), and one its IP stack
 *    sends is transmitted on the bridge device, then on the port;
 *  - with br_netfilter, the kernel skips that frame's PRE_ROUTING on the
 *    bridge device (ip_sabotage_in, at a priority no BPF link may take):
 *    ip.rcv is counted as the bridge passes it up instead. */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include "count.h"

#define PACKET_HOST 0        /* skb->pkt_type: addressed to this host at layer 2 */
#define SKB_EXT_ALIGN_SHIFT 3 /* skb extension offsets are in 8-byte units */

/* dev_has_flag tests one of dev->priv_flags (a bitfield on recent
 * kernels, a plain field on older ones: CO-RE reads either). btf as in
 * KREAD. */
static __always_inline bool dev_has_flag(bool btf, struct net_device *dev, __u32 flag)
{
	__u64 flags;

	if (!dev)
		return false;
	if (btf)
		flags = BPF_CORE_READ_BITFIELD(dev, priv_flags);
	else
		flags = BPF_CORE_READ_BITFIELD_PROBED(dev, priv_flags);
	return flags & flag;
}

/* dev_is_bridge: a bridge device's own receive and transmit only pass
 * frames between its ports and its IP stack: the bridge hands a frame a
 * port received up (br_pass_frame_up), and its transmit (br_dev_xmit)
 * hands a frame on to a port's. The device stages count frames at the
 * ports, once. */
static __always_inline bool dev_is_bridge(bool btf, struct net_device *dev)
{
	return dev_has_flag(btf, dev, bpf_core_enum_value(enum netdev_priv_flags, IFF_EBRIDGE));
}

/* bridge_mark records that a packet's flow is being bridged from port in
 * to port out. The map is written only when that changes. */
static __always_inline void bridge_mark(struct sk_buff *skb, __u32 in, __u32 out)
{
	struct flow_key key = {};
	struct pkt_meta meta = {};
	struct bridge_ports ports = {.in = in, .out = out};
	struct bridge_ports *seen;

	if (classify(skb, L3_AT_NETHDR, 0, 0, &key, &meta) != VERDICT_COUNTED)
		return;
	seen = bpf_map_lookup_elem(&bridged, &key);
	if (seen && seen->in == in && seen->out == out)
		return;
	bpf_map_update_elem(&bridged, &key, &ports, BPF_ANY);
}

/* bridge_tx marks a packet being queued on a bridge port that is not
 * addressed to this host at layer 2: the bridge is forwarding (or
 * flooding) a frame it received on another port, skb_iif. Frames the host
 * sends or routes are PACKET_HOST (ip_forward and ip6_forward refuse the
 * others). */
static __always_inline void bridge_tx(struct sk_buff *skb)
{
	struct net_device *dev = skb->dev;

	if (!dev_has_flag(true, dev, bpf_core_enum_value(enum netdev_priv_flags, IFF_BRIDGE_PORT)))
		return;
	if (BPF_CORE_READ_BITFIELD(skb, pkt_type) == PACKET_HOST)
		return;
	bridge_mark(skb, skb->skb_iif, dev->ifindex);
}

/* nf_bridge_info finds the bridge-netfilter skb extension, which
 * br_netfilter attaches to every IP frame it hands to the IP hooks and
 * which stays with the skb; NULL if there is none. The result is for
 * CO-RE probe reads only. */
static __always_inline struct nf_bridge_info *nf_bridge_info(struct sk_buff *skb)
{
	struct skb_ext *ext;
	__u32 id;
	__u8 off = 0;

	if (!bpf_core_enum_value_exists(enum skb_ext_id, SKB_EXT_BRIDGE_NF) ||
	    !bpf_core_field_exists(skb->active_extensions))
		return NULL;
	id = bpf_core_enum_value(enum skb_ext_id, SKB_EXT_BRIDGE_NF);
	if (!(skb->active_extensions & (1 << id)))
		return NULL;
	ext = BPF_CORE_READ(skb, extensions);
	if (!ext || bpf_core_read(&off, sizeof(off), &ext->offset[id]))
		return NULL;
	return (void *)ext + ((__u32)off << SKB_EXT_ALIGN_SHIFT);
}

/* brnf_bridging: an IP netfilter hook runs because br_netfilter hands it
 * a frame the bridge is handling: its PRE_ROUTING, before the bridge
 * decides between forwarding and local delivery (in_prerouting), or its
 * FORWARD and POST_ROUTING of a frame it forwards (physoutdev, which
 * br_nf_post_routing itself reads as "not delivered locally"). The
 * devices cannot tell: br_netfilter presents the bridge itself as in and
 * out device, as the bridge's own IP stack does. */
static __always_inline bool brnf_bridging(struct sk_buff *skb)
{
	struct nf_bridge_info *nfb = nf_bridge_info(skb);

	return nfb && (BPF_CORE_READ_BITFIELD_PROBED(nfb, in_prerouting) || BPF_CORE_READ(nfb, physoutdev));
}

/* brnf_prerouting_ran: a frame the bridge passes up to its own IP stack
 * went through PRE_ROUTING while br_netfilter had it, so ip_sabotage_in
 * will skip its second one (unless the bridge is in a VRF). */
static __always_inline bool brnf_prerouting_ran(struct sk_buff *skb)
{
	__u32 l3mdev = bpf_core_enum_value(enum netdev_priv_flags, IFF_L3MDEV_MASTER) |
		       bpf_core_enum_value(enum netdev_priv_flags, IFF_L3MDEV_SLAVE);

	return nf_bridge_info(skb) && !dev_has_flag(true, skb->dev, l3mdev);
}
