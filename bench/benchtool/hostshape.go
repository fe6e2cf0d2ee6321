package main

import (
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
)

// Host shapes: what the two namespaces carry besides the veth pair while
// the throughput and hooks phases measure. "bare" is nothing (no rules,
// so netfilter and conntrack are idle unless a tool attaches something);
// "realistic" is a kube-proxy node's iptables-nft ruleset (kuberules.go)
// in both namespaces, which makes conntrack track every packet. Every
// configuration is measured on every shape: a configuration × host matrix.
const (
	hostBare      = "bare"
	hostRealistic = "realistic"
)

var hostShapes = []string{hostBare, hostRealistic}

// hostName is a sample's host shape: samples of the bare shape leave it
// empty, so a bare-only run's results.json is what it always was.
func hostName(h string) string {
	if h == "" {
		return hostBare
	}
	return h
}

// hostKey is how samples store a shape (the inverse of hostName).
func hostKey(h string) string {
	if h == hostBare {
		return ""
	}
	return h
}

func parseHosts(list string) ([]string, error) {
	var hosts []string
	for _, h := range strings.Split(list, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if !slices.Contains(hostShapes, h) {
			return nil, fmt.Errorf("--hosts: unknown host shape %q (valid: %s)", h, strings.Join(hostShapes, ", "))
		}
		if !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	if len(hosts) == 0 {
		return nil, fmt.Errorf("--hosts: empty list (valid: %s)", strings.Join(hostShapes, ", "))
	}
	return hosts, nil
}

// HostCheck is what a host shape really was during one block of
// measurements: the rules loaded and the conntrack entries the block left
// in each namespace (A sends, B receives). Bare must show 0 and 0;
// realistic the ruleset's rule count and the block's connections.
type HostCheck struct {
	Phase     string `json:"phase"`
	Host      string `json:"host"`
	Rep       int    `json:"rep"`
	Rules     [2]int `json:"rules"`
	Conntrack [2]int `json:"conntrack_entries"`
	Error     string `json:"error,omitempty"`
}

// shapesHosts says whether a phase switches shapes at all: a bare-only
// one leaves the fresh namespaces alone, as it always did.
func shapesHosts(hosts []string) bool {
	return slices.Contains(hosts, hostRealistic)
}

// applyHost makes both namespaces the given shape and empties their
// conntrack tables, so each block starts from no connections. Bare
// flushes the whole ruleset: with no nat chain or conntrack match left the
// namespace's conntrack hooks unregister (checkHost proves it by counting
// no entries after traffic).
func (b *bench) applyHost(host string) error {
	rules := defaultKubeShape.ruleset()
	for _, ns := range []string{b.nsA, b.nsB} {
		var err error
		switch host {
		case hostBare:
			_, err = run("ip", "netns", "exec", ns, "nft", "flush", "ruleset")
		case hostRealistic:
			// -w: wait for the xtables lock rather than fail
			cmd := exec.Command("ip", "netns", "exec", ns, "iptables-nft-restore", "-w")
			cmd.Stdin = strings.NewReader(rules)
			if out, cerr := cmd.CombinedOutput(); cerr != nil {
				err = fmt.Errorf("iptables-nft-restore in %s: %v: %s", ns, cerr, tail(string(out), 300))
			}
		default:
			err = fmt.Errorf("unknown host shape %q", host)
		}
		if err != nil {
			return err
		}
		// exit status 1 with "0 flow entries" when the table is empty
		_, _ = run("ip", "netns", "exec", ns, "conntrack", "-F")
	}
	return nil
}

// checkHost counts the rules and conntrack entries in both namespaces.
func (b *bench) checkHost(phase, host string, rep int) HostCheck {
	c := HostCheck{Phase: phase, Host: host, Rep: rep}
	var errs []string
	for i, ns := range []string{b.nsA, b.nsB} {
		saved, err := run("ip", "netns", "exec", ns, "iptables-nft-save")
		if err != nil {
			errs = append(errs, err.Error())
		}
		c.Rules[i] = countRules(saved)
		out, err := run("ip", "netns", "exec", ns, "conntrack", "-C")
		if err == nil {
			c.Conntrack[i], err = strconv.Atoi(strings.TrimSpace(out))
		}
		if err != nil {
			errs = append(errs, "conntrack -C: "+err.Error())
		}
	}
	c.Error = strings.Join(errs, "; ")
	return c
}

// countRules counts the rules (-A lines) of iptables-save output.
func countRules(saved string) int {
	n := 0
	for _, l := range strings.Split(saved, "\n") {
		if strings.HasPrefix(l, "-A ") {
			n++
		}
	}
	return n
}

// overHosts runs one repetition's block of measurements on every host
// shape, in an order rotated each repetition; with more than the bare
// shape each block is applied before and checked after, and the
// namespaces are left bare for the phases that follow.
func (b *bench) overHosts(phase string, hosts []string, rep int, block func(host string) error) error {
	var errs []string
	for j := range hosts {
		host := hosts[(j+rep)%len(hosts)]
		if shapesHosts(hosts) {
			if err := b.applyHost(host); err != nil {
				return err
			}
		}
		if err := block(host); err != nil {
			errs = append(errs, err.Error())
		}
		if shapesHosts(hosts) {
			c := b.checkHost(phase, host, rep)
			b.logf("  %s host %s: rules %v, conntrack entries %v %s", phase, host, c.Rules, c.Conntrack, c.Error)
			b.res.HostChecks = append(b.res.HostChecks, c)
		}
	}
	if shapesHosts(hosts) {
		if err := b.applyHost(hostBare); err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}
