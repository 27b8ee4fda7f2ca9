package bizbotscmd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/bizbots/bizbots/config"
)

// cmdHealthcheck asks a running `serve` (the one of this config) whether
// it is healthy: the container image's HEALTHCHECK, and a quick check for
// scripts, with no curl needed.
func cmdHealthcheck(args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlags("healthcheck", "[--config FILE] [--timeout 5s]", stdout)
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the answer")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	url := "http://" + dialable(cfg.AppService.Listen) + "/health"
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("no answer from %s (is `bizbots serve` running with this config?): %w", url, err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Reason string `json:"reason"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body)
	if resp.StatusCode != http.StatusOK {
		if body.Reason != "" {
			body.Status += ": " + body.Reason
		}
		return fmt.Errorf("%s answered %d: %s", url, resp.StatusCode, body.Status)
	}
	fmt.Fprintf(stdout, "healthy: %s\n", body.Status)
	return nil
}

// dialable turns a listen address into one to connect to: a wildcard host
// (":29330", "0.0.0.0:29330", "[::]:29330") becomes loopback.
func dialable(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
