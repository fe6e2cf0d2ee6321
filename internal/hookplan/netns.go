package hookplan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/dropspot/dropspot/internal/nsname"
)

// Where named network namespaces live (`ip netns add`). Namespaces of
// containers are found through their processes.
const namedNetnsDir = "/run/netns"

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
	onChange func(ino uint64, hooked bool)
	wake     chan struct{}

	mu    sync.Mutex
	links map[uint64]*nsLinks // by namespace inode
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

// NewNetnsWatcher returns a watcher for the given probes; call Sync.
func NewNetnsWatcher(probes []*nfProbe, log *slog.Logger, onChange func(ino uint64, hooked bool)) *NetnsWatcher {
	if onChange == nil {
		onChange = func(uint64, bool) {}
	}
	return &NetnsWatcher{probes: probes, log: log, onChange: onChange, wake: make(chan struct{}, 1),
		links: map[uint64]*nsLinks{}}
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
	ino, err := netnsInode(path)
	if err != nil {
		return false
	}
	// Without SO_NETNS_COOKIE (before 5.14) attachIn stored 0: so here.
	cookie, _ := netnsCookie(path)
	w.mu.Lock()
	defer w.mu.Unlock()
	hooked, ok := w.links[ino]
	return ok && hooked.cookie == cookie
}

// Sync attaches to namespaces not yet hooked and drops the links of those
// gone. It fails only if the tool's own namespace cannot be hooked.
func (w *NetnsWatcher) Sync() error {
	found := nsname.Paths()
	self, err := netnsInode("/proc/self/ns/net")
	if err != nil {
		return fmt.Errorf("own network namespace: %w", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for ino, path := range found {
		if old, ok := w.links[ino]; ok {
			cookie, err := netnsCookie(path)
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
			// The namespace may be gone already; say so and go on.
			w.log.Warn("cannot hook network namespace", "netns", ino, "path", path, "err", err)
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

// drop closes a namespace's links; the caller holds mu.
func (w *NetnsWatcher) drop(ino uint64, hooked *nsLinks) {
	w.onChange(ino, false)
	hooked.close()
	delete(w.links, ino)
}

// attachIn attaches every probe in the namespace at path.
func (w *NetnsWatcher) attachIn(path string) (*nsLinks, error) {
	hooked := &nsLinks{}
	err := inNetns(path, func() error {
		hooked.cookie, _ = currentNetnsCookie()
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

// inNetns runs fn on a locked OS thread inside the namespace at path and
// comes back.
func inNetns(path string, fn func() error) error {
	target, err := os.Open(path)
	if err != nil {
		return err
	}
	defer target.Close()

	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter %s: %w", path, err)
	}
	err = fn()
	if serr := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); serr != nil {
		// The thread is stuck in the wrong namespace: leave it locked so
		// the runtime throws it away with this goroutine.
		return errors.Join(err, fmt.Errorf("return from %s: %w", path, serr))
	}
	runtime.UnlockOSThread()
	return err
}

// netnsCookie is the cookie of the namespace at path.
func netnsCookie(path string) (uint64, error) {
	var cookie uint64
	err := inNetns(path, func() error {
		var err error
		cookie, err = currentNetnsCookie()
		return err
	})
	return cookie, err
}

// currentNetnsCookie is the calling thread's namespace cookie, unique for
// the life of the system (unlike the inode number).
func currentNetnsCookie() (uint64, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	v, err := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
	if err != nil {
		return 0, fmt.Errorf("SO_NETNS_COOKIE: %w", err)
	}
	return v, nil
}

// Run re-syncs when a named namespace appears or vanishes, when Wake is
// called, and every rescanPeriod for the others, until ctx ends.
func (w *NetnsWatcher) Run(ctx context.Context) {
	events := make(chan struct{}, 1)
	if stop, err := watchDir(namedNetnsDir, events); err == nil {
		defer stop()
	}
	tick := time.NewTicker(rescanPeriod)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-events:
		case <-w.wake:
		}
		if err := w.Sync(); err != nil {
			w.log.Warn("namespace rescan", "err", err)
		}
	}
}

// Close detaches from every namespace.
func (w *NetnsWatcher) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ino, hooked := range w.links {
		w.drop(ino, hooked)
	}
}

func netnsInode(path string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
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
