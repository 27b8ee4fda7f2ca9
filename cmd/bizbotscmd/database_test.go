package bizbotscmd

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bizbots/bizbots/store/storetest"
)

// eventually polls cond every 50 ms until it holds, failing after limit.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func health(client *http.Client, base string) (int, map[string]string) {
	resp, err := client.Get(base + "/health")
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	var body map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

// serve started while Postgres does not answer waits for it (saying so in
// the log, naming the database) instead of exiting; /health reports a
// database that goes silent as 503 within seconds, and ok again after.
func TestServeWaitsForDatabaseAndReportsIt(t *testing.T) {
	uri, proxy := storetest.PostgresViaProxy(t)
	proxy.Freeze()
	listen := freePort(t)
	p := initConfig(t, "--listen", listen, "--homeserver-url", "http://"+freePort(t), "--database", uri)
	cfgText := readFile(t, p.cfg)
	if !strings.Contains(cfgText, "  timeout: 5s\n") {
		t.Fatalf("config has no database timeout:\n%s", cfgText)
	}
	if err := os.WriteFile(p.cfg, []byte(strings.Replace(cfgText, "  timeout: 5s\n", "  timeout: 1s\n", 1)), 0o600); err != nil {
		t.Fatal(err)
	}

	srv := startServe(t, p.cfg)
	eventually(t, 20*time.Second, "serve to log that it waits for the database", func() bool {
		select {
		case code := <-srv.done:
			srv.done <- code
			t.Fatalf("serve exited with %d while the database was silent:\n%s", code, srv.stderr.String())
		default:
		}
		logs := srv.stderr.String()
		return strings.Contains(logs, "waiting for it") && strings.Contains(logs, proxy.Addr())
	})
	proxy.Thaw()
	base := "http://" + listen
	client := &http.Client{Timeout: 10 * time.Second}
	eventually(t, 40*time.Second, "serve to answer /health with ok once the database is back", func() bool {
		code, _ := health(client, base)
		return code == http.StatusOK
	})

	proxy.Freeze()
	start := time.Now()
	code, body := health(client, base)
	if code != http.StatusServiceUnavailable || body["status"] != "unhealthy" || !strings.Contains(body["reason"], "database") {
		t.Errorf("/health with the database silent: %d %v", code, body)
	}
	if took := time.Since(start); took > 6*time.Second {
		t.Errorf("/health took %v with the database silent", took)
	}
	if r := runCmd(t, "healthcheck", "--config", p.cfg); r.code != 1 || !strings.Contains(r.stderr, "unhealthy: database did not answer in time") {
		t.Errorf("healthcheck with the database silent: exit %d, stderr %q", r.code, r.stderr)
	}
	proxy.Thaw()
	eventually(t, 20*time.Second, "/health to be ok again", func() bool {
		code, _ := health(client, base)
		return code == http.StatusOK
	})
}
