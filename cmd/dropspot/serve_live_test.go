package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dropspot/dropspot/internal/testnet"
)

// A healthy flow already running when serve starts, scraped while it
// runs: no scrape may export lost packets for it (before the counting
// window, each hook counted from its own attach moment and the exporter
// showed a loss that never happened, unchanged on every scrape).
func TestServeLiveFlowHasNoLoss(t *testing.T) {
	testnet.RequirePrivileged(t)
	p := testnet.NewPair(t)
	var rx, tx *net.UDPConn
	if err := p.Do(testnet.B, func() (err error) {
		rx, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.B4, 0)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	if err := testnet.ForceRcvBuf(rx); err != nil {
		t.Fatal(err)
	}
	if err := p.Do(testnet.A, func() (err error) {
		tx, err = net.DialUDP("udp", nil, rx.LocalAddr().(*net.UDPAddr))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{}, 2)
	go func() { // ~5000 datagrams a second, for at most 30 s
		defer func() { done <- struct{}{} }()
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Microsecond) {
			select {
			case <-stop:
				return
			default:
			}
			tx.Write(make([]byte, 100))
		}
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		buf := make([]byte, 2048)
		for {
			rx.SetReadDeadline(time.Now().Add(time.Second))
			if _, err := rx.Read(buf); err != nil {
				select {
				case <-stop:
					return
				default:
				}
			}
		}
	}()
	defer func() { close(stop); <-done; <-done; tx.Close() }()
	time.Sleep(300 * time.Millisecond)

	target := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	ready := filepath.Join(t.TempDir(), "ready")
	serve := exec.Command(binary, "serve", "--listen", target, "--top-flows", "1000", "--ready-file", ready)
	serve.Stderr = os.Stderr
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { serve.Process.Kill(); serve.Wait() })
	waitHTTP(t, "http://"+target+"/healthz")

	src := fmt.Sprintf("src=%q", p.A4.String())
	var scraped int
	for range 30 {
		time.Sleep(100 * time.Millisecond)
		resp, err := http.Get("http://" + target + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "dropspot_flow_lost_packets{") && strings.Contains(line, src) {
				t.Errorf("scrape %d: %s", scraped, line)
			}
		}
		resp.Body.Close()
		scraped++
	}
}
