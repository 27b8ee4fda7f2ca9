package bizbotscmd

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/internal/fakehs"
)

// /ready is 200 only while the database answers and the homeserver
// answered recently; /health stays "alive" either way.
func TestReadyFollowsTheHomeserver(t *testing.T) {
	readyEvery, readyStale = 50*time.Millisecond, 300*time.Millisecond
	defer func() { readyEvery, readyStale = 15*time.Second, time.Minute }()
	hs := fakehs.New("")
	defer hs.Close()
	listen := freePort(t)
	p := initConfig(t, "--listen", listen, "--homeserver-url", hs.URL())
	cfg, err := config.Load(p.cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs.ASToken = cfg.AppService.ASToken
	stderr := startServe(t, p.cfg).stderr

	client := &http.Client{Timeout: 5 * time.Second}
	get := func(path string) (int, map[string]any) {
		resp, err := client.Get("http://" + listen + path)
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s never happened; serve log:\n%s", what, stderr.String())
			}
			time.Sleep(20 * time.Millisecond) // polling an HTTP endpoint, bounded above
		}
	}
	waitFor("/ready 200", func() bool { code, _ := get("/ready"); return code == http.StatusOK })

	hs.Close() // the homeserver goes away
	var body map[string]any
	waitFor("/ready 503", func() bool {
		var code int
		code, body = get("/ready")
		return code == http.StatusServiceUnavailable
	})
	if problems, _ := json.Marshal(body["problems"]); !strings.Contains(string(problems), "homeserver has not answered recently") {
		t.Errorf("/ready body %v", body)
	}
	if code, _ := get("/health"); code != http.StatusOK {
		t.Errorf("/health = %d while only the homeserver is down", code)
	}
	resp, err := client.Get("http://" + listen + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"bizbots_homeserver_up 0", `go_sql_open_connections{db_name="bizbots"}`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
