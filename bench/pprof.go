package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// startProfiles, when -pprof is set and p has profiling endpoints, takes
// a CPU profile and an allocation profile (the allocations made in the
// window, not since start) over the next o.pprofSeconds, saved as
// DIR/NAME.cpu.pb.gz and DIR/NAME.allocs.pb.gz (read them with `go tool
// pprof`), and halfway through a snapshot of every goroutine's stack as
// text, DIR/NAME.goroutines.txt (where the workers wait when the CPU is
// not the limit). The returned func waits for all three (bounded) and
// reports a failure to take them.
func startProfiles(p *process, o options, name string) func() error {
	if o.pprofDir == "" || p.pprofAddr == "" {
		return func() error { return nil }
	}
	secs := o.pprofSeconds
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs)*time.Second+time.Minute)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i, kind := range []string{"profile", "allocs"} {
		file := filepath.Join(o.pprofDir, name+map[string]string{"profile": ".cpu.pb.gz", "allocs": ".allocs.pb.gz"}[kind])
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fetchProfile(ctx, fmt.Sprintf("http://%s/debug/pprof/%s?seconds=%d", p.pprofAddr, kind, secs), file)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-time.After(time.Duration(secs) * time.Second / 2):
		case <-ctx.Done():
			return
		}
		errs[2] = fetchProfile(ctx, fmt.Sprintf("http://%s/debug/pprof/goroutine?debug=1", p.pprofAddr), filepath.Join(o.pprofDir, name+".goroutines.txt"))
	}()
	return func() error {
		wg.Wait()
		cancel()
		return errors.Join(errs...)
	}
}

func fetchProfile(ctx context.Context, url, file string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("profile %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("profile %s: HTTP %d: %s", url, resp.StatusCode, body)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("profile %s: %w", url, err)
	}
	return f.Close()
}
