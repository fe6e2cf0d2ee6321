package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/dropspot/dropspot/internal/capture"
)

// flushInterval bounds how long a drop event may wait in a buffer before it
// reaches a regular file, so a file being watched, or left behind by a
// SIGKILL, holds all but the last moment's drops.
const flushInterval = time.Second

// sinks are where drop events go: the JSON line stream and/or pcapng. The
// event stream writes them while a ticker flushes them, so both hold mu.
type sinks struct {
	mu   sync.Mutex
	json *json.Encoder
	pcap *capture.Writer
	outs []output // the buffers under json and pcap
	file *os.File // the pcapng file, when not stdout
	err  error    // the first failed flush of the ticker

	stopTicker chan struct{}
	tickerDone chan struct{}
}

// output is one buffered destination and when to flush it.
type output struct {
	buf      interface{ Flush() error }
	perEvent bool
}

func openSinks(f *watchFlags, stdout io.Writer) (*sinks, error) {
	s := &sinks{}
	if f.events {
		buf := bufio.NewWriter(stdout)
		s.json = json.NewEncoder(buf)
		s.outs = append(s.outs, output{buf, f.packetBuffered || readLive(stdout)})
	}
	if f.pcap != "" {
		if err := s.openPcap(f, stdout); err != nil {
			return nil, errors.Join(err, s.close())
		}
	}
	// The pcapng header goes out at once: a reader of the stream can open
	// it before the first drop.
	if err := s.flush(); err != nil {
		return nil, errors.Join(err, s.close())
	}
	if slices.ContainsFunc(s.outs, func(o output) bool { return !o.perEvent }) {
		s.stopTicker, s.tickerDone = make(chan struct{}), make(chan struct{})
		go s.flushEvery(flushInterval)
	}
	return s, nil
}

func (s *sinks) openPcap(f *watchFlags, stdout io.Writer) error {
	out := stdout
	if f.pcap != "-" {
		// Dropped packets may carry anything: readable by the owner only.
		file, err := os.OpenFile(f.pcap, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return fmt.Errorf("-w: %w", err)
		}
		s.file, out = file, file
	}
	w, err := capture.NewWriter(out, f.snaplen)
	if err != nil {
		return err
	}
	s.pcap = w
	s.outs = append(s.outs, output{w, f.packetBuffered || readLive(out)})
	return nil
}

// readLive tells whether w is read while it is written (a pipe, FIFO,
// terminal or socket), so each event should reach it at once, as with
// tcpdump -U. Only a regular file is worth the batching.
func readLive(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return true
	}
	st, err := f.Stat()
	return err != nil || !st.Mode().IsRegular()
}

// put writes one drop to the sinks that want it (nil: not wanted) and
// flushes the outputs read live.
func (s *sinks) put(line *eventLine, pkt *capture.Packet) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	if line != nil {
		err = s.json.Encode(line)
	}
	if pkt != nil {
		err = errors.Join(err, s.pcap.Write(*pkt))
	}
	for _, o := range s.outs {
		if o.perEvent {
			err = errors.Join(err, o.buf.Flush())
		}
	}
	return err
}

func (s *sinks) flushEvery(d time.Duration) {
	defer close(s.tickerDone)
	tick := time.NewTicker(d)
	defer tick.Stop()
	for {
		select {
		case <-s.stopTicker:
			return
		case <-tick.C:
			s.mu.Lock()
			if s.err == nil {
				s.err = s.flush()
			}
			s.mu.Unlock()
		}
	}
}

func (s *sinks) flush() error {
	var err error
	for _, o := range s.outs {
		err = errors.Join(err, o.buf.Flush())
	}
	return err
}

// close writes what is buffered and closes the file. The event stream must
// have been drained first.
func (s *sinks) close() error {
	if s.stopTicker != nil {
		close(s.stopTicker)
		<-s.tickerDone
	}
	err := s.err // a failed buffer keeps failing: say it once
	if err == nil {
		err = s.flush()
	}
	if s.file != nil {
		err = errors.Join(err, s.file.Close())
	}
	return err
}
