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

	mu    sync.Mutex
	links map[uint64][]link.Link // by namespace inode
}

// NewNetnsWatcher returns a watcher for the given probes; call Sync.
func NewNetnsWatcher(probes []*nfProbe, log *slog.Logger) *NetnsWatcher {
	return &NetnsWatcher{probes: probes, log: log, links: map[uint64][]link.Link{}}
}

// Count is the number of namespaces hooked.
func (w *NetnsWatcher) Count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.links)
}

// Has reports whether the namespace with this inode is hooked.
func (w *NetnsWatcher) Has(ino uint64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.links[ino]
	return ok
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
		if _, ok := w.links[ino]; ok {
			continue
		}
		links, err := w.attachIn(path)
		if err != nil {
			if ino == self {
				return err
			}
			// The namespace may be gone already; say so and go on.
			w.log.Warn("cannot hook network namespace", "netns", ino, "path", path, "err", err)
			continue
		}
		w.links[ino] = links
		w.log.Debug("hooked network namespace", "netns", ino, "path", path)
	}
	for ino, links := range w.links {
		if _, ok := found[ino]; ok {
			continue
		}
		for _, l := range links {
			l.Close()
		}
		delete(w.links, ino)
		w.log.Debug("network namespace gone", "netns", ino)
	}
	return nil
}

// attachIn enters the namespace at path on a locked OS thread, attaches
// every probe there and comes back.
func (w *NetnsWatcher) attachIn(path string) ([]link.Link, error) {
	target, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer target.Close()

	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer orig.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("enter %s: %w", path, err)
	}
	var links []link.Link
	var attachErr error
	for _, p := range w.probes {
		l, err := p.attachHere()
		if err != nil {
			attachErr = err
			break
		}
		links = append(links, l...)
	}
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread is stuck in the wrong namespace: leave it locked so
		// the runtime throws it away with this goroutine.
		attachErr = errors.Join(attachErr, fmt.Errorf("return from %s: %w", path, err))
	} else {
		runtime.UnlockOSThread()
	}
	if attachErr != nil {
		for _, l := range links {
			l.Close()
		}
		return nil, attachErr
	}
	return links, nil
}

// Run re-syncs when a named namespace appears or vanishes, and every
// rescanPeriod for the others, until ctx ends.
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
	for ino, links := range w.links {
		for _, l := range links {
			l.Close()
		}
		delete(w.links, ino)
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
