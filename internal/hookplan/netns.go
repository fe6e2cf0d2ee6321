package hookplan

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/dropspot/dropspot/internal/netns"
)

// rescanPeriod bounds how late a namespace made without `ip netns add` is
// hooked.
const rescanPeriod = time.Second

// NetnsWatcher holds the netfilter links of every network namespace:
// netfilter BPF links exist per namespace, so one made here does not see
// packets of another.
type NetnsWatcher struct {
	probes []*nfProbe
	log    *slog.Logger
	// onChange hears of each namespace hooked (true) or let go (false):
	// the counting window admits packets only in hooked ones.
	onChange func(ino uint32, hooked bool)
	// scope is the namespace the run counts (0: every one): one outside
	// it that cannot be hooked is none of the user's concern.
	scope uint32
	// scan lists the namespaces on the host, by inode (netns.Paths).
	scan func() map[uint32]string
	wake chan struct{}

	mu     sync.Mutex
	links  map[uint32]*nsLinks // by namespace inode
	warned map[uint32]bool     // said to be unhookable: once a run each
	closed bool                // the probes' programs may be closed
}

// nsLinks are the links made in one namespace. The cookie tells that
// namespace from a later one that reuses its inode number (nsfs reuses
// them): links of a dead namespace must not pass for hooks of a new one.
type nsLinks struct {
	cookie uint64 // SO_NETNS_COOKIE (5.14+), 0 if the kernel has none
	links  []link.Link
}

func (n *nsLinks) close() {
	for _, l := range n.links {
		l.Close()
	}
}

// newNetnsWatcher returns a watcher for the given probes, for a run that
// counts the namespace scope (0: all); call Sync.
func newNetnsWatcher(probes []*nfProbe, log *slog.Logger, onChange func(ino uint32, hooked bool), scope uint32) *NetnsWatcher {
	if onChange == nil {
		onChange = func(uint32, bool) {}
	}
	return &NetnsWatcher{probes: probes, log: log, onChange: onChange, scope: scope, scan: netns.Paths,
		wake: make(chan struct{}, 1), links: map[uint32]*nsLinks{}, warned: map[uint32]bool{}}
}

// Wake makes Run sync now: the kernel saw a packet of a namespace that is
// not hooked yet.
func (w *NetnsWatcher) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Count is the number of namespaces hooked.
func (w *NetnsWatcher) Count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.links)
}

// Has reports whether the namespace at path is hooked: the one there now,
// not a dead one whose inode it reuses and whose links Sync has yet to
// drop.
func (w *NetnsWatcher) Has(path string) bool {
	ino, err := netns.Inode(path)
	if err != nil {
		return false
	}
	// Without SO_NETNS_COOKIE (before 5.14) attachIn stored 0: so here.
	cookie, _ := netns.Cookie(path)
	w.mu.Lock()
	defer w.mu.Unlock()
	hooked, ok := w.links[ino]
	return ok && hooked.cookie == cookie
}

// Sync attaches to namespaces not yet hooked and drops the links of those
// gone. It fails only if the tool's own namespace cannot be hooked. After
// Close it does nothing.
func (w *NetnsWatcher) Sync() error {
	found := w.scan()
	self, err := netns.Inode(netns.Self)
	if err != nil {
		return fmt.Errorf("own network namespace: %w", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	for ino, path := range found {
		if old, ok := w.links[ino]; ok {
			cookie, err := netns.Cookie(path)
			if err != nil || cookie == old.cookie {
				continue
			}
			// Same inode, another namespace: the old one died.
			w.drop(ino, old)
		}
		hooked, err := w.attachIn(path)
		if err != nil {
			if ino == self {
				return err
			}
			w.cannotHook(ino, path, err)
			continue
		}
		w.links[ino] = hooked
		w.onChange(ino, true)
		w.log.Debug("hooked network namespace", "netns", ino, "path", path)
	}
	for ino, hooked := range w.links {
		if _, ok := found[ino]; ok {
			continue
		}
		w.drop(ino, hooked)
		w.log.Debug("network namespace gone", "netns", ino)
	}
	return nil
}

// cannotHook tells of a namespace whose hooks could not be attached: once a
// run, and only if the run counts it and it is (still) one. A process that
// exits between the scan and the attach takes its namespace along, and
// `ip netns add` and `del` leave a plain file under /run/netns for a
// moment: no error. The caller holds mu.
func (w *NetnsWatcher) cannotHook(ino uint32, path string, err error) {
	now, ierr := netns.Inode(path) // fails for what is no namespace
	gone := ierr != nil || now != ino
	if gone || w.warned[ino] || w.scope != 0 && ino != w.scope {
		w.log.Debug("network namespace not hooked", "netns", ino, "path", path, "gone", gone, "err", err)
		return
	}
	w.warned[ino] = true
	w.log.Warn("cannot hook network namespace: its packets are not counted", "netns", ino, "path", path, "err", err)
}

// drop closes a namespace's links; the caller holds mu.
func (w *NetnsWatcher) drop(ino uint32, hooked *nsLinks) {
	w.onChange(ino, false)
	hooked.close()
	delete(w.links, ino)
}

// attachIn attaches every probe in the namespace at path.
func (w *NetnsWatcher) attachIn(path string) (*nsLinks, error) {
	hooked := &nsLinks{}
	err := netns.Do(path, func() error {
		hooked.cookie, _ = netns.CurrentCookie()
		for _, p := range w.probes {
			l, err := p.attachHere()
			if err != nil {
				hooked.close()
				return err
			}
			hooked.links = append(hooked.links, l...)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return hooked, nil
}

// Run re-syncs when a named namespace appears or vanishes, when Wake is
// called, and every rescanPeriod for the others, until ctx ends.
func (w *NetnsWatcher) Run(ctx context.Context) {
	events := make(chan struct{}, 1)
	if stop, err := watchDir(netns.Dir, events); err == nil {
		defer stop()
	}
	tick := time.NewTicker(rescanPeriod)
	defer tick.Stop()
	warned := false // of the own namespace, once a run
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-events:
		case <-w.wake:
		}
		if err := w.Sync(); err != nil && !warned {
			warned = true
			w.log.Warn("cannot hook dropspot's own network namespace again", "err", err)
		}
	}
}

// Close detaches from every namespace, for good: the probes' programs
// are closed next.
func (w *NetnsWatcher) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	for ino, hooked := range w.links {
		w.drop(ino, hooked)
	}
}

// watchDir signals on events whenever an entry of dir is made or removed.
func watchDir(dir string, events chan<- struct{}) (stop func(), err error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CREATE|unix.IN_DELETE|unix.IN_MOVED_TO|unix.IN_ATTRIB); err != nil {
		unix.Close(fd)
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "inotify:"+dir)
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := f.Read(buf); err != nil {
				return
			}
			select {
			case events <- struct{}{}:
			default:
			}
		}
	}()
	return func() { f.Close() }, nil
}
