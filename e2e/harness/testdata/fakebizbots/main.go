// Command fakebizbots is a stand-in for the real bizbots binary that
// follows its CLI contract (`init` and `serve`), so the harness, the client
// script and scripts/demo.sh can be tested without bizbots itself. It lives
// under testdata so `go build ./...` ignores it; build it explicitly:
//
//	go build -o /tmp/fakebizbots ./e2e/harness/testdata/fakebizbots
//
// serve registers @pizza, @taxi, @support and @echo (the bots `bizbots
// init` configures), joins when a bot is invited and says "Welcome! ...",
// and answers each message with "echo: <text>".
// Events are handled in order by one goroutine; nothing is durable.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

type config struct {
	HomeserverURL string   `json:"homeserver_url"`
	Domain        string   `json:"domain"`
	Listen        string   `json:"listen"`
	ASToken       string   `json:"as_token"`
	HSToken       string   `json:"hs_token"`
	Bots          []string `json:"bots"`
}

func main() {
	if len(os.Args) < 2 {
		log.Fatal("usage: fakebizbots init|serve ...")
	}
	switch os.Args[1] {
	case "init":
		doInit(os.Args[2:])
	case "serve":
		doServe(os.Args[2:])
	default:
		log.Fatalf("unknown command %q", os.Args[1])
	}
}

func token() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func doInit(args []string) {
	fs := flag.NewFlagSet("init", flag.ExitOnError)
	cfgPath := fs.String("config", "", "")
	regPath := fs.String("registration", "", "")
	hsURL := fs.String("homeserver-url", "", "")
	domain := fs.String("domain", "", "")
	listen := fs.String("listen", "", "")
	_ = fs.String("database", "", "")
	force := fs.Bool("force", false, "")
	_ = fs.Parse(args)
	if *cfgPath == "" || *regPath == "" || *hsURL == "" || *domain == "" || *listen == "" {
		log.Fatal("init: --config, --registration, --homeserver-url, --domain and --listen are required")
	}
	if !*force {
		if _, err := os.Stat(*cfgPath); err == nil {
			log.Fatalf("init: %s exists (use --force)", *cfgPath)
		}
	}
	c := config{HomeserverURL: *hsURL, Domain: *domain, Listen: *listen, ASToken: token(), HSToken: token(),
		Bots: []string{"pizza", "taxi", "support", "echo"}}
	js, _ := json.MarshalIndent(c, "", "  ")
	if err := os.WriteFile(*cfgPath, js, 0o600); err != nil {
		log.Fatal(err)
	}
	reg := fmt.Sprintf(`id: bizbots
url: http://%s
as_token: %s
hs_token: %s
sender_localpart: bizbots
rate_limited: false
namespaces:
  users:
  - exclusive: true
    regex: '@(pizza|taxi|support|echo|bizbots):%s'
  aliases: []
  rooms: []
`, *listen, c.ASToken, c.HSToken, strings.ReplaceAll(*domain, ".", `\.`))
	if err := os.WriteFile(*regPath, []byte(reg), 0o600); err != nil {
		log.Fatal(err)
	}
}

type bot struct {
	c      config
	events chan map[string]any
	txn    atomic.Int64
	bots   map[string]bool
	// roomBot is the bot invited to each room; only loop touches it.
	roomBot map[string]string
}

func (b *bot) call(ctx context.Context, method, path, asUser string, body any) error {
	u := b.c.HomeserverURL + path
	if asUser != "" {
		u += "?user_id=" + url.QueryEscape(asUser)
	}
	js, _ := json.Marshal(body)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(js))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+b.c.ASToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, data)
	}
	return nil
}

func (b *bot) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+b.c.HSToken {
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"errcode":"M_FORBIDDEN"}`))
		return
	}
	if r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/_matrix/app/v1/transactions/") {
		var txn struct {
			Events []map[string]any `json:"events"`
		}
		if err := json.NewDecoder(r.Body).Decode(&txn); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		for _, ev := range txn.Events {
			select {
			case b.events <- ev:
			case <-r.Context().Done():
				return
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{}`))
}

func (b *bot) send(ctx context.Context, room, asUser, body string) {
	path := fmt.Sprintf("/_matrix/client/v3/rooms/%s/send/m.room.message/fake%d-%d", url.PathEscape(room), time.Now().UnixNano(), b.txn.Add(1))
	if err := b.call(ctx, http.MethodPut, path, asUser, map[string]any{"msgtype": "m.notice", "body": body}); err != nil {
		log.Printf("send: %v", err)
	}
}

func (b *bot) loop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-b.events:
			content, _ := ev["content"].(map[string]any)
			room, _ := ev["room_id"].(string)
			sender, _ := ev["sender"].(string)
			stateKey, _ := ev["state_key"].(string)
			switch {
			case ev["type"] == "m.room.member" && b.bots[stateKey] && content["membership"] == "invite":
				log.Printf("%s invited to %s by %s", stateKey, room, sender)
				b.roomBot[room] = stateKey
				if err := b.call(ctx, http.MethodPost, "/_matrix/client/v3/join/"+url.PathEscape(room), stateKey, map[string]any{}); err != nil {
					log.Printf("join: %v", err)
					continue
				}
				b.send(ctx, room, stateKey, "Welcome! I am "+stateKey+" (fake bizbots); I echo what you say.")
			case ev["type"] == "m.room.message" && !b.bots[sender]:
				body, _ := content["body"].(string)
				// The bot that was invited to the room answers.
				if to := b.roomBot[room]; to != "" {
					b.send(ctx, room, to, "echo: "+body)
				}
			}
		}
	}
}

func doServe(args []string) {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	cfgPath := fs.String("config", "", "")
	_ = fs.Parse(args)
	data, err := os.ReadFile(*cfgPath)
	if err != nil {
		log.Fatal(err)
	}
	var c config
	if err := json.Unmarshal(data, &c); err != nil {
		log.Fatal(err)
	}
	b := &bot{c: c, events: make(chan map[string]any, 1024), bots: map[string]bool{}, roomBot: map[string]string{}}
	for _, name := range c.Bots {
		b.bots["@"+name+":"+c.Domain] = true
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	for _, name := range c.Bots {
		err := b.call(ctx, http.MethodPost, "/_matrix/client/v3/register", "", map[string]any{"type": "m.login.application_service", "username": name})
		if err != nil && !strings.Contains(err.Error(), "M_USER_IN_USE") {
			log.Fatalf("register %s: %v", name, err)
		}
		log.Printf("bot @%s:%s ready", name, c.Domain)
	}
	srv := &http.Server{Addr: c.Listen, Handler: b, ReadHeaderTimeout: 10 * time.Second}
	go b.loop(ctx)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Printf("fakebizbots listening on %s", c.Listen)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	log.Printf("fakebizbots stopped")
}
