package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// The proxy alternates over live backends and sends a request a dead
// backend refused to the next one, body intact.
func TestProxyRoundRobinSkipsDeadBackend(t *testing.T) {
	var mu sync.Mutex
	var got []string
	backend := func(name string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			mu.Lock()
			got = append(got, name+":"+string(body))
			mu.Unlock()
			_, _ = io.WriteString(w, name)
		}))
	}
	a, b := backend("a"), backend("b")
	defer a.Close()
	defer b.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	deadAddr := dead.Listener.Addr().String()
	dead.Close() // refuses connections from now on
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop := startProxy(ln, []string{strings.TrimPrefix(a.URL, "http://"), deadAddr, strings.TrimPrefix(b.URL, "http://")})
	defer stop()
	seen := map[string]int{}
	for i := 0; i < 6; i++ {
		req, _ := http.NewRequest(http.MethodPut, "http://"+ln.Addr().String()+"/_matrix/app/v1/transactions/t", strings.NewReader("txn"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: HTTP %d %s", i, resp.StatusCode, body)
		}
		seen[string(body)]++
	}
	if seen["a"] == 0 || seen["b"] == 0 || seen["a"]+seen["b"] != 6 {
		t.Fatalf("answers per backend %v, want both live backends used", seen)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, g := range got {
		if !strings.HasSuffix(g, ":txn") {
			t.Fatalf("a backend got %q, want the body forwarded", g)
		}
	}
}

func TestMaxLoadIsHighestSustainedSweepStep(t *testing.T) {
	steps := []stepResult{
		{Kind: "sweep", Offered: 100, Replies: 100},
		{Kind: "sweep", Offered: 200, Replies: 185}, // below 95 %
		{Kind: "sweep", Offered: 400, Replies: 390},
		{Kind: "sweep", Offered: 800, Replies: 500},
		{Kind: "2x-max", Offered: 1600, Replies: 1600}, // a probe never counts
	}
	if m := maxLoad(steps); m != 400 {
		t.Fatalf("max load %v, want 400", m)
	}
	if m := maxLoad([]stepResult{{Kind: "sweep", Offered: 100, Replies: 10}}); m != 0 {
		t.Fatalf("max load %v with no step sustained, want 0", m)
	}
}
