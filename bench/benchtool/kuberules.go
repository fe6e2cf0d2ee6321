package main

import (
	"fmt"
	"strings"
)

// kubeShape sizes an iptables ruleset shaped like a kube-proxy node's
// (iptables mode): the realistic host of the benchmark.
type kubeShape struct {
	Services int // ClusterIP services, one KUBE-SVC-* chain each
	// every NodePortEvery-th service also has a node port (0: none)
	NodePortEvery int
	// every NoEndpointsEvery-th service has no endpoints: a REJECT rule in
	// the filter table instead of a KUBE-SVC-* chain (0: none)
	NoEndpointsEvery int
}

// defaultKubeShape is ~4000 rules: 500 services with 1–3 endpoints each.
var defaultKubeShape = kubeShape{Services: 500, NodePortEvery: 10, NoEndpointsEvery: 25}

// The ruleset's addresses: service VIPs in 198.19.0.0/16 and endpoints
// (pods) in 198.18.0.0/17, the cluster CIDR; the benchmark's traffic
// (198.18.200.0/24) matches none of them, and its ports (5201, 9000) are
// outside the node-port range, as most of a node's traffic misses most
// services.
const (
	kubeClusterCIDR = "198.18.0.0/17"
	kubeNodePort0   = 30000
)

func kubeVIP(svc int) string { return fmt.Sprintf("198.19.%d.%d", svc/250, svc%250+1) }

func kubeEndpoint(n int) string { return fmt.Sprintf("198.18.%d.%d", n/250, n%250+1) }

// endpointsOf is how many endpoints service svc has: 1, 2 or 3 in turn,
// none for every NoEndpointsEvery-th.
func (k kubeShape) endpointsOf(svc int) int {
	if k.NoEndpointsEvery > 0 && svc%k.NoEndpointsEvery == k.NoEndpointsEvery-1 {
		return 0
	}
	return svc%3 + 1
}

// kubeChainID is the hash-like suffix kube-proxy gives its per-service
// and per-endpoint chains (16 characters).
func kubeChainID(kind string, n int) string {
	return fmt.Sprintf("%s%012X", kind, uint64(n)*0x9E3779B1&0xFFFFFFFFFFFF)
}

// kubeRuleset is the ruleset in iptables-restore format: the filter
// table's KUBE-FORWARD, KUBE-FIREWALL and reject rules for services
// without endpoints, and the nat table's KUBE-SERVICES with a jump per
// service to its KUBE-SVC-* chain, which picks a KUBE-SEP-* endpoint chain
// at random and DNATs. The conntrack matches and the nat table make
// conntrack track every packet in the namespace, as on a node.
func (k kubeShape) ruleset() string {
	var filter, nat, filterChains, natChains strings.Builder
	f := func(format string, a ...any) { fmt.Fprintf(&filter, format+"\n", a...) }
	n := func(format string, a ...any) { fmt.Fprintf(&nat, format+"\n", a...) }
	for _, c := range []string{"KUBE-FORWARD", "KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-FIREWALL", "KUBE-NODEPORTS", "KUBE-PROXY-FIREWALL"} {
		fmt.Fprintf(&filterChains, ":%s - [0:0]\n", c)
	}
	for _, c := range []string{"KUBE-SERVICES", "KUBE-POSTROUTING", "KUBE-MARK-MASQ", "KUBE-NODEPORTS"} {
		fmt.Fprintf(&natChains, ":%s - [0:0]\n", c)
	}
	f(`-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL`)
	f(`-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS`)
	f(`-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES`)
	f(`-A INPUT -j KUBE-FIREWALL`)
	f(`-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL`)
	f(`-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD`)
	f(`-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`)
	f(`-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES`)
	f(`-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL`)
	f(`-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`)
	f(`-A OUTPUT -j KUBE-FIREWALL`)
	f(`-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`)
	f(`-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP`)
	f(`-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT`)
	f(`-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`)

	n(`-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`)
	n(`-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`)
	n(`-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING`)
	n(`-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000`)
	n(`-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN`)
	n(`-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0`)
	n(`-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully`)
	ep := 0
	for svc := 0; svc < k.Services; svc++ {
		name := fmt.Sprintf("ns%d/svc%d:http", svc%20, svc)
		vip := kubeVIP(svc)
		eps := k.endpointsOf(svc)
		nodePort := k.NodePortEvery > 0 && svc%k.NodePortEvery == 0
		if eps == 0 {
			f(`-A KUBE-SERVICES -d %s/32 -p tcp -m comment --comment "%s has no endpoints" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable`, vip, name)
			continue
		}
		svcChain := kubeChainID("KUBE-SVC-", svc)
		fmt.Fprintf(&natChains, ":%s - [0:0]\n", svcChain)
		n(`-A KUBE-SERVICES -d %s/32 -p tcp -m comment --comment "%s cluster IP" -m tcp --dport 80 -j %s`, vip, name, svcChain)
		n(`-A %s ! -s %s -d %s/32 -p tcp -m comment --comment "%s cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ`, svcChain, kubeClusterCIDR, vip, name)
		if nodePort {
			port := kubeNodePort0 + svc/k.NodePortEvery
			n(`-A KUBE-NODEPORTS -p tcp -m comment --comment "%s" -m tcp --dport %d -j KUBE-MARK-MASQ`, name, port)
			n(`-A KUBE-NODEPORTS -p tcp -m comment --comment "%s" -m tcp --dport %d -j %s`, name, port, svcChain)
		}
		for e := 0; e < eps; e++ {
			sep := kubeChainID("KUBE-SEP-", ep)
			addr := kubeEndpoint(ep)
			ep++
			fmt.Fprintf(&natChains, ":%s - [0:0]\n", sep)
			if left := eps - e; left > 1 {
				n(`-A %s -m comment --comment "%s -> %s:8080" -m statistic --mode random --probability %.11f -j %s`, svcChain, name, addr, 1/float64(left), sep)
			} else {
				n(`-A %s -m comment --comment "%s -> %s:8080" -j %s`, svcChain, name, addr, sep)
			}
			n(`-A %s -s %s/32 -m comment --comment "%s" -j KUBE-MARK-MASQ`, sep, addr, name)
			n(`-A %s -p tcp -m comment --comment "%s" -m tcp -j DNAT --to-destination %s:8080`, sep, name, addr)
		}
	}
	n(`-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS`)
	return "*filter\n" + filterChains.String() + filter.String() + "COMMIT\n*nat\n" + natChains.String() + nat.String() + "COMMIT\n"
}
