package faults

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"

	"github.com/dropspot/dropspot/internal/bpf"
)

// Proto is a set of transport protocols (a bit mask).
type Proto uint8

// The protocols faults select. The values are those of bpf/faults.
const (
	UDP Proto = 1 << iota
	TCP
)

const allProtos = UDP | TCP

func (p Proto) String() string {
	var names []string
	if p&UDP != 0 {
		names = append(names, "udp")
	}
	if p&TCP != 0 {
		names = append(names, "tcp")
	}
	if rest := p &^ allProtos; rest != 0 || len(names) == 0 {
		names = append(names, fmt.Sprintf("Proto(%#x)", uint8(rest)))
	}
	return strings.Join(names, "+")
}

// dropper is one loaded copy of a fault program: its own settings baked in
// (the verifier sees constants) and its own counter of dropped packets.
type dropper struct {
	prog    *ebpf.Program
	counter *ebpf.Map
	links   []link.Link
}

// loadDropper loads program prog of bpf/faults set to drop protos packets
// to port (every every-th data packet of them, for the netfilter program;
// 0: all). Only that program is loaded: the others need not verify.
func loadDropper(prog string, protos Proto, port uint16, every uint32) (*dropper, error) {
	if protos == 0 || protos&^allProtos != 0 {
		return nil, fmt.Errorf("protocols %v: want udp, tcp or both", protos)
	}
	if port == 0 {
		return nil, errors.New("port 0: want a destination port")
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("remove memlock limit: %w", err)
	}
	spec, err := bpf.LoadFaults()
	if err != nil {
		return nil, fmt.Errorf("read fault BPF object: %w", err)
	}
	if err := spec.Variables[bpf.FaultsVarCfg].Set(bpf.FaultsFaultCfg{Port: port, Protos: uint8(protos), Every: every}); err != nil {
		return nil, fmt.Errorf("configure %s: %w", prog, err)
	}
	for name := range spec.Programs {
		if name != prog {
			delete(spec.Programs, name)
		}
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", prog, err)
	}
	defer coll.Close() // after the detaches below: closes nothing we keep
	return &dropper{
		prog:    coll.DetachProgram(prog),
		counter: coll.DetachMap(bpf.FaultsMapDropped),
	}, nil
}

// dropped reads the program's counter.
func (d *dropper) dropped() (uint64, error) {
	var n uint64
	if err := d.counter.Lookup(uint32(0), &n); err != nil {
		return 0, fmt.Errorf("read drop counter: %w", err)
	}
	return n, nil
}

// close detaches the program (links first, so no packet runs a half-freed
// fault) and frees it.
func (d *dropper) close() error {
	var errs []error
	for _, l := range d.links {
		if err := l.Close(); err != nil {
			errs = append(errs, fmt.Errorf("detach: %w", err))
		}
	}
	d.links = nil
	errs = append(errs, d.prog.Close(), d.counter.Close())
	return errors.Join(errs...)
}
