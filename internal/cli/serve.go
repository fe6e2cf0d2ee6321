package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dropspot/dropspot/internal/metrics"
	"github.com/dropspot/dropspot/internal/nsname"
	"github.com/dropspot/dropspot/internal/stage"
)

// serve keeps the programs attached and serves Prometheus metrics until
// SIGINT, SIGTERM or SIGHUP.
func serve(args []string, stdout, stderr io.Writer) error {
	var f traceFlags
	fs := newFlagSet("serve", stdout)
	listen := fs.String("listen", "127.0.0.1:9435", "address for /metrics and /healthz (\":9435\" to expose it)")
	topFlows := fs.Int("top-flows", 10, "export per-flow series for this many flow directions with the most loss")
	f.register(fs, stage.Serve)
	if err := parseFlags(fs, args, -1); err != nil {
		return err
	}
	if *topFlows < 0 || *topFlows > 1000 {
		return badUsage("--top-flows must be between 0 and 1000")
	}
	cfg, err := f.tracerConfig(fs.Args(), stderr)
	if err != nil {
		return err
	}
	// Listen before loading anything: a taken port fails fast.
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	defer ln.Close()

	ctx, stop := notifyStop()
	defer stop()
	f.clearReady()
	defer f.clearReady()
	names := loadNamer(cfg.Log)
	cfg.Symbols = names.Symbols
	t, err := startTracer(ctx, cfg)
	if err != nil {
		return err
	}
	defer t.Close()
	go t.Watch(ctx)

	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewCollector(t, metrics.Options{
		TopFlows: *topFlows, MinInterval: time.Second, Names: names, NetnsNames: nsname.Scan,
		Ifname: nsname.NewIfnames().Lookup,
	}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		// Bounded work under a scrape storm: few readings at once.
		MaxRequestsInFlight: 4, Timeout: 10 * time.Second,
	}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	announceReady(stderr, t.Plan, f.readyFile)
	fmt.Fprintf(stderr, "dropspot: serving http://%s/metrics\n", ln.Addr())

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
