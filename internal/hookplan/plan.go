package hookplan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/cilium/ebpf"

	"github.com/dropspot/dropspot/internal/kallsyms"
	"github.com/dropspot/dropspot/internal/stage"
)

// Hook is the candidate a stage ended up with.
type Hook struct {
	Stage stage.Stage
	Kind  Kind
	Name  string
}

// Rejection is a candidate that did not work, and why.
type Rejection struct {
	Stage     stage.Stage
	Candidate string
	Reason    string
	// Family: the candidate's whole hook family is out (Plan.Refused
	// says why, once); Reason is that reason.
	Family bool
}

// Refusal is a hook family ruled out as a whole, and why.
type Refusal struct {
	Kind   Kind
	Reason string
}

// Plan is the resolved hook plan: what observes each stage, and what was
// tried and failed. Its links live until Close.
type Plan struct {
	Hooks    []Hook
	Rejected []Rejection
	Refused  []Refusal // in the order they were found
	// Chosen is the stages the plan was asked for: the others have no
	// candidate tried, no program loaded.
	Chosen stage.Set

	attached []*attachment
	netns    *NetnsWatcher
}

// Options tune plan resolution.
type Options struct {
	// Skip leaves out whole hook families (for tests and for users who
	// want, say, tracepoints only).
	Skip map[Kind]bool
	Log  *slog.Logger
	// Symbols is the kernel symbol table if the caller has read it
	// already; nil reads it here.
	Symbols *kallsyms.Table
	// OnNetns hears of each namespace whose per-namespace hooks are all
	// attached (true) or detached (false).
	OnNetns func(ino uint32, hooked bool)
	// Stages are the stages to hook (0: all). A stage left out is not
	// tried: none of its programs is loaded.
	Stages stage.Set
	// Netns is the namespace the run counts (its inode; 0: all): a
	// namespace outside it that cannot be hooked is not worth a warning.
	Netns uint32
}

type resolver struct {
	*loader
	symbols    *kallsyms.Table
	symbolsErr error
	cgroupRoot string
	cgroupErr  error
	// kindUnavailable remembers a failure that rules out a whole hook
	// family on this kernel (or a family skipped by request), so it is
	// not retried for every stage.
	kindUnavailable map[Kind]error
}

// errSkipped is why a family skipped by request is not used.
var errSkipped = errors.New("skipped by request (--skip-hooks)")

// Resolve attaches, for every stage, the first candidate that works. The
// object's maps must already exist (maps); spec is the whole object with
// its run-time constants set. A stage with no working candidate is left
// out of Hooks; Resolve fails only if nothing at all attached.
func Resolve(spec *ebpf.CollectionSpec, maps map[string]*ebpf.Map, opts Options) (*Plan, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &resolver{loader: &loader{spec: spec, maps: maps}, kindUnavailable: map[Kind]error{}}
	r.symbols = opts.Symbols
	if r.symbols == nil {
		r.symbols, r.symbolsErr = kallsyms.Load()
	}
	r.cgroupRoot, r.cgroupErr = CgroupV2Root()

	p := &Plan{Chosen: opts.Stages}
	if p.Chosen == 0 {
		p.Chosen = stage.AllStages
	}
	hooked := map[stage.Stage]bool{}
	var nfProbes []*nfProbe
	for _, c := range Candidates() {
		if hooked[c.Stage] || !p.Chosen.Has(c.Stage) {
			continue
		}
		reject := func(err error, family bool) {
			p.Rejected = append(p.Rejected, Rejection{Stage: c.Stage, Candidate: c.Name(), Reason: err.Error(), Family: family})
			log.Debug("hook rejected", "stage", c.Stage, "hook", c.Name(), "reason", err)
		}
		if opts.Skip[c.Kind] && r.kindUnavailable[c.Kind] == nil {
			r.refuse(p, c.Kind, errSkipped)
		}
		if err := r.kindUnavailable[c.Kind]; err != nil {
			reject(err, true)
			continue
		}
		if c.Requires != nil && !hooked[*c.Requires] {
			why := fmt.Errorf("needs stage %v hooked", *c.Requires)
			if !p.Chosen.Has(*c.Requires) {
				why = fmt.Errorf("needs stage %v, which is not chosen (add it to --stages)", *c.Requires)
			}
			reject(why, false)
			continue
		}
		a, err := r.attach(c)
		if err != nil {
			if ferr := familyFailure(c.Kind, err); ferr != nil {
				r.refuse(p, c.Kind, ferr)
				reject(ferr, true)
			} else {
				reject(err, false)
			}
			continue
		}
		hooked[c.Stage] = true
		p.attached = append(p.attached, a)
		p.Hooks = append(p.Hooks, Hook{Stage: c.Stage, Kind: c.Kind, Name: c.Name()})
		if a.nf != nil {
			nfProbes = append(nfProbes, a.nf)
		}
		log.Debug("hook attached", "stage", c.Stage, "hook", c.Name())
	}
	if len(p.Hooks) == 0 {
		return nil, fmt.Errorf("no hook could be attached for any stage (run `dropspot doctor` for the reasons)")
	}
	if len(nfProbes) > 0 {
		p.netns = newNetnsWatcher(nfProbes, log, opts.OnNetns, opts.Netns)
		if err := p.netns.Sync(); err != nil {
			p.Close()
			return nil, err
		}
	}
	return p, nil
}

// refuse rules a family out for the rest of the plan.
func (r *resolver) refuse(p *Plan, k Kind, why error) {
	r.kindUnavailable[k] = why
	p.Refused = append(p.Refused, Refusal{Kind: k, Reason: why.Error()})
}

// Watch keeps netfilter links in step with the namespaces on the host
// until ctx ends. Namespaces created while running are attached within
// the watcher's period (or at once when made with `ip netns add`).
func (p *Plan) Watch(ctx context.Context) {
	if p.netns != nil {
		p.netns.Run(ctx)
	}
}

// PerNetns reports whether some hooks exist per namespace (netfilter
// links), so a namespace counts only once they are attached there.
func (p *Plan) PerNetns() bool { return p.netns != nil }

// WakeNetns asks for an immediate namespace sync (no-op without
// per-namespace hooks).
func (p *Plan) WakeNetns() {
	if p.netns != nil {
		p.netns.Wake()
	}
}

// Namespaces returns how many network namespaces the per-namespace hooks
// cover, or 0 when the plan has none.
func (p *Plan) Namespaces() int {
	if p.netns == nil {
		return 0
	}
	return p.netns.Count()
}

// NetnsHooked reports whether the per-namespace hooks cover the network
// namespace at path (always true when the plan has no per-namespace hooks).
func (p *Plan) NetnsHooked(path string) bool {
	return p.netns == nil || p.netns.Has(path)
}

// Hooked reports whether a stage has a hook.
func (p *Plan) Hooked(s stage.Stage) bool {
	for _, h := range p.Hooks {
		if h.Stage == s {
			return true
		}
	}
	return false
}

// Close detaches everything.
func (p *Plan) Close() {
	if p.netns != nil {
		p.netns.Close()
	}
	for _, a := range p.attached {
		a.close()
	}
}
