package hsclient_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"

	"github.com/bizbots/bizbots/appservice/hsclient"
)

const asToken = "as_token_0123456789abcdef0123456789abcdef"

// failWith makes a homeserver that answers every request with status,
// headers and body, and returns the error a real send gets from it.
func failWith(t *testing.T, status int, header map[string]string, body string) error {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	defer srv.Close()
	return send(t, srv.URL)
}

func send(t *testing.T, url string) error {
	t.Helper()
	cli, err := hsclient.New(url, asToken, 2, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = cli.As("@pizza:example.org").SendMessageEvent(ctx, "!room:example.org", event.EventMessage,
		map[string]string{"msgtype": "m.text", "body": "hi"}, mautrix.ReqSendEvent{TransactionID: "t1"})
	if err == nil {
		t.Fatal("the send succeeded")
	}
	return err
}

func TestClassify(t *testing.T) {
	jsonHdr := map[string]string{"Content-Type": "application/json"}
	for _, tc := range []struct {
		name   string
		status int
		header map[string]string
		body   string
		want   hsclient.Verdict
		inWhy  string
	}{
		{"429 retry_after_ms", 429, jsonHdr, `{"errcode":"M_LIMIT_EXCEEDED","error":"slow down","retry_after_ms":1500}`,
			hsclient.Verdict{Retry: true, After: 1500 * time.Millisecond, Errcode: "M_LIMIT_EXCEEDED", Status: 429}, "M_LIMIT_EXCEEDED"},
		{"429 Retry-After header", 429, map[string]string{"Content-Type": "application/json", "Retry-After": "7"}, `{"errcode":"M_LIMIT_EXCEEDED","error":"slow down"}`,
			hsclient.Verdict{Retry: true, After: 7 * time.Second, Errcode: "M_LIMIT_EXCEEDED", Status: 429}, "slow down"},
		{"429 retry_after_ms wins over header", 429, map[string]string{"Retry-After": "7"}, `{"errcode":"M_LIMIT_EXCEEDED","retry_after_ms":200}`,
			hsclient.Verdict{Retry: true, After: 200 * time.Millisecond, Errcode: "M_LIMIT_EXCEEDED", Status: 429}, "429"},
		{"429 without a wait", 429, jsonHdr, `{"errcode":"M_LIMIT_EXCEEDED"}`,
			hsclient.Verdict{Retry: true, Errcode: "M_LIMIT_EXCEEDED", Status: 429}, "429"},
		{"500", 500, jsonHdr, `{"errcode":"M_UNKNOWN","error":"internal"}`,
			hsclient.Verdict{Retry: true, Errcode: "M_UNKNOWN", Status: 500}, "internal"},
		{"502 from a proxy, HTML", 502, map[string]string{"Content-Type": "text/html"}, `<html>Bad Gateway</html>`,
			hsclient.Verdict{Retry: true, Status: 502}, "502"},
		{"503 empty", 503, nil, ``, hsclient.Verdict{Retry: true, Status: 503}, "503"},
		{"403", 403, jsonHdr, `{"errcode":"M_FORBIDDEN","error":"not in room"}`,
			hsclient.Verdict{Retry: false, Errcode: "M_FORBIDDEN", Status: 403}, "not in room"},
		{"400", 400, jsonHdr, `{"errcode":"M_BAD_JSON","error":"bad"}`,
			hsclient.Verdict{Retry: false, Errcode: "M_BAD_JSON", Status: 400}, "M_BAD_JSON"},
		{"404 unrecognized", 404, jsonHdr, `{"errcode":"M_UNRECOGNIZED","error":"no"}`,
			hsclient.Verdict{Retry: false, Errcode: "M_UNRECOGNIZED", Status: 404}, "404"},
		{"429 Retry-After as a date", 429, map[string]string{"Retry-After": "Thu, 01 Jan 1970 00:00:00 GMT"}, `{"errcode":"M_LIMIT_EXCEEDED"}`,
			hsclient.Verdict{Retry: true, Errcode: "M_LIMIT_EXCEEDED", Status: 429}, "429"},
		{"401 unknown token (registration not loaded yet)", 401, jsonHdr, `{"errcode":"M_UNKNOWN_TOKEN","error":"Unknown token"}`,
			hsclient.Verdict{Retry: true, Errcode: "M_UNKNOWN_TOKEN", Status: 401}, "M_UNKNOWN_TOKEN"},
		{"403 bot not registered yet", 403, jsonHdr, `{"errcode":"M_FORBIDDEN","error":"Application service has not registered this user (@pizza:example.org)"}`,
			hsclient.Verdict{Retry: true, Errcode: "M_FORBIDDEN", Status: 403}, "has not registered"},
		{"403 resource limit", 403, jsonHdr, `{"errcode":"M_RESOURCE_LIMIT_EXCEEDED","error":"MAU limit"}`,
			hsclient.Verdict{Retry: true, Errcode: "M_RESOURCE_LIMIT_EXCEEDED", Status: 403}, "MAU"},
		{"404 from a proxy, not a homeserver", 404, map[string]string{"Content-Type": "text/html"}, `<html>Not Found</html>`,
			hsclient.Verdict{Retry: true, Status: 404}, "404"},
		{"408", 408, nil, ``, hsclient.Verdict{Retry: true, Status: 408}, "408"},
		{"413 too large", 413, jsonHdr, `{"errcode":"M_TOO_LARGE","error":"event too large"}`,
			hsclient.Verdict{Retry: false, Errcode: "M_TOO_LARGE", Status: 413}, "M_TOO_LARGE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := failWith(t, tc.status, tc.header, tc.body)
			v := hsclient.Classify(err)
			why := v.Reason
			v.Reason = ""
			if v != tc.want {
				t.Fatalf("Classify(%v) = %+v, want %+v", err, v, tc.want)
			}
			if !strings.Contains(why, tc.inWhy) {
				t.Fatalf("reason %q does not say %q", why, tc.inWhy)
			}
		})
	}
}

func TestClassifyNetworkErrors(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		url := "http://" + l.Addr().String()
		l.Close()
		v := hsclient.Classify(send(t, url))
		if !v.Retry || v.Status != 0 || v.Reason == "" {
			t.Fatalf("connection refused: %+v, want a retry", v)
		}
	})
	t.Run("connection dropped", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		}))
		defer srv.Close()
		if v := hsclient.Classify(send(t, srv.URL)); !v.Retry || v.Status != 0 {
			t.Fatalf("dropped connection: %+v, want a retry", v)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer srv.Close()
		defer close(release)
		cli, err := hsclient.New(srv.URL, asToken, 2, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err = cli.As("@pizza:example.org").SendMessageEvent(ctx, "!room:example.org", event.EventMessage,
			map[string]string{"body": "hi"}, mautrix.ReqSendEvent{TransactionID: "t1"})
		if v := hsclient.Classify(err); err == nil || !v.Retry {
			t.Fatalf("timeout %v: %+v, want a retry", err, v)
		}
	})
}

func TestNewRejectsABadURL(t *testing.T) {
	if _, err := hsclient.New("://nope", asToken, 2, zerolog.Nop()); err == nil {
		t.Fatal("bad homeserver url accepted")
	}
}

// The bot acts through the as_token and ?user_id=, and one client per bot
// is reused.
func TestActsAsTheBot(t *testing.T) {
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(context.Background())
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"event_id":"$e"}`))
	}))
	defer srv.Close()
	cli, err := hsclient.New(srv.URL, asToken, 2, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if cli.As("@pizza:example.org") != cli.As("@pizza:example.org") {
		t.Fatal("a new mautrix client per call")
	}
	resp, err := cli.As("@pizza:example.org").SendMessageEvent(context.Background(), "!room:example.org", event.EventMessage,
		map[string]string{"body": "hi"}, mautrix.ReqSendEvent{TransactionID: "bb.x.1"})
	if err != nil || resp.EventID != "$e" {
		t.Fatalf("send: %v %v", resp, err)
	}
	if got.Header.Get("Authorization") != "Bearer "+asToken || got.URL.Query().Get("user_id") != "@pizza:example.org" ||
		!strings.HasSuffix(got.URL.Path, "/send/m.room.message/bb.x.1") {
		t.Fatalf("request %s %s auth %q", got.Method, got.URL, got.Header.Get("Authorization"))
	}
}

// Parallel callers reuse pooled connections instead of reconnecting for
// most requests (Go's default transport, which mautrix uses, keeps only
// two idle connections per host).
func TestParallelSendsReuseConnections(t *testing.T) {
	var mu sync.Mutex
	opened := 0
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"event_id":"$e"}`))
	}))
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			opened++
			mu.Unlock()
		}
	}
	srv.Start()
	defer srv.Close()
	const callers, rounds = 8, 20
	cli, err := hsclient.New(srv.URL, asToken, callers, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, callers*rounds)
	for c := 0; c < callers; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				if _, err := cli.Send(context.Background(), "@pizza:example.org", "!room:example.org", "m.room.message",
					fmt.Sprintf("t%d", i), []byte(`{"body":"hi"}`)); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if opened > 2*callers {
		t.Fatalf("%d connections opened for %d requests by %d callers: the pool does not keep them", opened, callers*rounds, callers)
	}
}
