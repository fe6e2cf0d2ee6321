package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/dropspot/dropspot/internal/testnet"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startPrometheus runs a real Prometheus server on loopback that scrapes
// target every second, and returns its address.
func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("prometheus is not installed (apt-get install prometheus)")
		}
		t.Skip("prometheus is not installed (apt-get install prometheus)")
	}
	dir := t.TempDir()
	config := fmt.Sprintf("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: dropspot\n    static_configs:\n      - targets: [%q]\n", target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return addr
}

// query asks Prometheus for an instant vector and returns its one value,
// or -1 while there is none.
func query(t *testing.T, prom, expr string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + prom + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return -1 // not up yet
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || len(body.Data.Result) != 1 {
		return -1
	}
	v, err := strconv.ParseFloat(body.Data.Result[0].Value[1].(string), 64)
	if err != nil {
		t.Fatalf("value %v: %v", body.Data.Result[0].Value, err)
	}
	return v
}

// serve's counters, as a real Prometheus server scraped them, match the
// traffic and drops made in test namespaces: with every stage, and with
// serve's default stages (rx.driver, tx.queue, drops), where the others
// have no series at all.
func TestServeThroughPrometheus(t *testing.T) {
	testnet.RequirePrivileged(t)
	t.Run("all", func(t *testing.T) { serveThroughPrometheus(t, "all") })
	t.Run("default", func(t *testing.T) { serveThroughPrometheus(t, "") })
}

func serveThroughPrometheus(t *testing.T, stages string) {
	p := testnet.NewPair(t)
	target := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	// --netns: per-flow series go to the top-K flows by loss, and tests
	// running beside this one lose more packets than it does.
	args := []string{"serve", "--listen", target, "--top-flows", "3", "--netns", p.NameB,
		"--ready-file", filepath.Join(t.TempDir(), "ready")}
	if stages != "" {
		args = append(args, "--stages", stages)
	}
	serve := exec.Command(binary, args...)
	serve.Stderr = os.Stderr
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { serve.Process.Kill(); serve.Wait() })
	waitHTTP(t, "http://"+target+"/healthz")

	const delivered, refused = 17, 6
	if _, err := testnet.UDP(p, testnet.A, delivered, 100, false); err != nil {
		t.Fatal(err)
	}
	closed, err := testnet.UDPToClosedPort(p, testnet.A, refused, 100, false)
	if err != nil {
		t.Fatal(err)
	}
	prom := startPrometheus(t, target)
	ns := strconv.FormatUint(uint64(p.InodeB), 10)
	checks := map[string]float64{
		fmt.Sprintf(`dropspot_drops_total{netns=%q,reason="NO_SOCKET",stage="l4.rcv"}`, ns):                          refused,
		fmt.Sprintf(`dropspot_netns_stage_packets{netns=%q,stage="l4.rcv"}`, ns):                                     delivered + refused,
		fmt.Sprintf(`dropspot_netns_stage_packets{netns=%q,stage="sock.rcv"}`, ns):                                   delivered,
		fmt.Sprintf(`dropspot_netns_stage_packets{netns=%q,netns_name=%q,stage="rx.core"}`, ns, p.NameB):             delivered + refused,
		fmt.Sprintf(`dropspot_flow_lost_packets{netns=%q,dport="%d",from="l4.rcv",to="sock.rcv"}`, ns, closed.Dport): refused,
		`count(dropspot_hook_info)`: 14, // 12 stages, drops, tcp.retransmit
		fmt.Sprintf(`dropspot_interface_drops_total{netns=%q,interface=%q,reason="NO_SOCKET"}`, ns, p.IfB): refused,
	}
	var absent []string
	if stages == "" {
		// The drop comes after rx.driver, the last stage chosen; a stage
		// not chosen has no series.
		checks = map[string]float64{
			fmt.Sprintf(`dropspot_drops_total{netns=%q,reason="NO_SOCKET",stage="rx.driver"}`, ns): refused,
			fmt.Sprintf(`dropspot_netns_stage_packets{netns=%q,stage="rx.driver"}`, ns):            delivered + refused,
			`count(dropspot_hook_info)`: 3,
			fmt.Sprintf(`dropspot_interface_drops_total{netns=%q,interface=%q,reason="NO_SOCKET"}`, ns, p.IfB): refused,
		}
		absent = []string{fmt.Sprintf(`dropspot_netns_stage_packets{netns=%q,stage="l4.rcv"}`, ns),
			`dropspot_stage_packets_total{stage="ip.rcv"}`}
	}
	deadline := time.Now().Add(30 * time.Second)
	for expr, want := range checks {
		// sum(): a label such as netns_name may read differently across
		// scrapes (a namespace scan racing another test's namespaces),
		// which would make two series of one.
		expr = "sum(" + expr + ")"
		for {
			got := query(t, prom, expr)
			if got == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s = %v, want %v", expr, got, want)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	for _, expr := range absent {
		if got := query(t, prom, "sum("+expr+")"); got != -1 {
			t.Errorf("%s = %v, want no series (stage not chosen)", expr, got)
		}
	}
	// Graceful shutdown on SIGTERM.
	serve.Process.Signal(os.Interrupt)
	if err := serve.Wait(); err != nil {
		t.Errorf("serve after SIGINT: %v", err)
	}
}

func waitHTTP(t *testing.T, u string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if resp, err := http.Get(u); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not up after 15s", u)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
