package bizbotscmd

import (
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"

	"github.com/rs/zerolog"
)

// envPprof names a listen address for Go's profiling endpoints
// (/debug/pprof/…), off unless set. They tell anyone who can reach them
// what the process is doing, so keep the address on loopback.
const envPprof = "BIZBOTS_PPROF"

// startPprof serves the profiling endpoints when BIZBOTS_PPROF is set.
// It returns a func that stops them.
func startPprof(log zerolog.Logger) func() {
	addr := os.Getenv(envPprof)
	if addr == "" {
		return func() {}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Warn().Err(err).Str("address", addr).Msg(envPprof + ": cannot listen; profiling endpoints are off")
		return func() {}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info().Str("address", ln.Addr().String()).Msg("profiling endpoints on /debug/pprof/")
	return func() { _ = srv.Close() }
}
