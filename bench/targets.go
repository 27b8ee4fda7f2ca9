package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	_ "github.com/lib/pq"

	"github.com/bizbots/bizbots/internal/loopport"
)

// target is one appservice under test, started fresh for each run.
type target struct {
	name string
	// start runs the process against hs; it returns once it accepts
	// transactions (and, for bizbots, has joined the rooms).
	start func(ctx context.Context, hs *homeserver, rooms int) (*process, error)
}

type process struct {
	cmd       *exec.Cmd
	exited    <-chan error // the result of cmd.Wait, once
	url       string       // the appservice listener
	hsToken   string
	cleanup   []func()
	logPath   string
	pprofAddr string // bizbots' profiling endpoints, "" when off
}

// endpoint is where the homeserver pushes transactions, and the
// processes behind it (one, or several behind the bench's proxy).
type endpoint struct {
	url, hsToken string
	pids         func() []int
}

func (p *process) endpoint() endpoint {
	return endpoint{url: p.url, hsToken: p.hsToken, pids: func() []int { return []int{p.pid()} }}
}

func (p *process) pid() int {
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

func (p *process) stop() {
	if p.cmd != nil && p.cmd.Process != nil && p.exited != nil {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		p.exited = nil
	}
	for i := len(p.cleanup) - 1; i >= 0; i-- {
		p.cleanup[i]()
	}
}

func token() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// waitListening waits until addr accepts connections (bounded).
func waitListening(ctx context.Context, addr string, exited <-chan error) error {
	for i := 0; i < 600; i++ {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("exited before listening: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s never listened", addr)
}

func startCmd(cmd *exec.Cmd, logPath string) (<-chan error, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); close(exited); f.Close() }() // closed: later receives return at once
	return exited, nil
}

// comparatorTarget is the bare mautrix-go echo appservice.
func comparatorTarget(bin, work string) target {
	return target{name: "mautrix", start: func(ctx context.Context, hs *homeserver, rooms int) (*process, error) {
		addr, err := loopport.Free()
		if err != nil {
			return nil, err
		}
		p := &process{url: "http://" + addr, hsToken: token(), logPath: filepath.Join(work, "comparator.log")}
		p.cmd = exec.Command(bin)
		p.cmd.Env = append(os.Environ(), "LISTEN="+addr, "HS_URL="+hs.url, "AS_TOKEN="+token(),
			"HS_TOKEN="+p.hsToken, "DOMAIN="+hs.domain, "BOT=echo")
		exited, err := startCmd(p.cmd, p.logPath)
		if err != nil {
			return nil, err
		}
		p.exited = exited
		if err := waitListening(ctx, addr, exited); err != nil {
			p.stop()
			return nil, err
		}
		return p, nil
	}}
}

// bizbotsOptions vary how a bizbots target is set up.
type bizbotsOptions struct {
	prefill      *prefillCache // a copy of the prefilled database instead of an empty one (nil: empty)
	leaseTimeout string        // dispatcher.lease_timeout, "" for the default
	pprof        bool          // open the profiling endpoints (BIZBOTS_PPROF)
}

// bizbotsTarget is `bizbots serve` with its echo bot on dbURI(), which
// makes a fresh database each time.
func bizbotsTarget(name, bin, work string, dbURI func() (string, func(), error), bo bizbotsOptions) target {
	return target{name: name, start: func(ctx context.Context, hs *homeserver, rooms int) (*process, error) {
		addr, err := loopport.Free()
		if err != nil {
			return nil, err
		}
		dir, err := os.MkdirTemp(work, name+"-")
		if err != nil {
			return nil, err
		}
		uri, dropDB, err := dbURI()
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(uri, "sqlite:") {
			uri = "sqlite:" + filepath.Join(dir, "bizbots.db")
			if bo.prefill != nil {
				src, err := bo.prefill.source(ctx, "sqlite")
				if err != nil {
					return nil, err
				}
				if err := copyFile(src, strings.TrimPrefix(uri, "sqlite:")); err != nil {
					return nil, err
				}
			}
		}
		p := &process{url: "http://" + addr, logPath: filepath.Join(dir, "serve.log"), cleanup: []func(){dropDB}}
		cfgPath := filepath.Join(dir, "config.yaml")
		p.hsToken, err = writeConfig(bin, cfgPath, hs, addr, "", uri, bo.leaseTimeout)
		if err != nil {
			p.stop()
			return nil, err
		}
		var env []string
		if bo.pprof {
			if p.pprofAddr, err = loopport.Free(); err != nil {
				p.stop()
				return nil, err
			}
			env = append(env, "BIZBOTS_PPROF="+p.pprofAddr)
		}
		if err := p.serve(ctx, bin, cfgPath, addr, env); err != nil {
			p.stop()
			return nil, err
		}
		// The customers invite the bot; it joins and greets each room.
		if err := invite(ctx, p.endpoint(), hs, 0, rooms, rooms); err != nil {
			p.stop()
			return nil, fmt.Errorf("%w (log: %s)", err, p.logPath)
		}
		return p, nil
	}}
}

// writeConfig runs `bizbots init` for a bench run, quietens its logs,
// sets the lease timeout if asked and returns the hs_token.
// publicURL, if set, is the URL the homeserver uses (the proxy's in the
// scale-out mode), written into the registration.
func writeConfig(bin, cfgPath string, hs *homeserver, addr, publicURL, uri, leaseTimeout string) (string, error) {
	args := []string{"init", "--config", cfgPath, "--homeserver-url", hs.url, "--domain", hs.domain, "--listen", addr, "--database", uri}
	if publicURL != "" {
		args = append(args, "--url", publicURL)
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("bizbots init: %v\n%s", err, out)
	}
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		return "", err
	}
	// Quiet logs, as in production at load.
	cfg = regexp.MustCompile(`(?m)^  level: info$`).ReplaceAll(cfg, []byte("  level: warn"))
	cfg = regexp.MustCompile(`(?m)^  format: auto$`).ReplaceAll(cfg, []byte("  format: json"))
	if leaseTimeout != "" {
		cfg = regexp.MustCompile(`(?m)^  lease_timeout: .*$`).ReplaceAll(cfg, []byte("  lease_timeout: "+leaseTimeout))
	}
	if cfg, err = configEdits.apply(cfg); err != nil {
		return "", err
	}
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		return "", err
	}
	m := regexp.MustCompile(`(?m)^  hs_token: "?([0-9a-f]+)"?$`).FindSubmatch(cfg)
	if m == nil {
		return "", fmt.Errorf("no hs_token in %s", cfgPath)
	}
	return string(m[1]), nil
}

// edits are -set's changes to bizbots' config.
type edits []string

// configEdits is what -set asks to change in every run's config.
var configEdits edits

func (e *edits) String() string { return strings.Join(*e, ",") }

func (e *edits) Set(v string) error {
	if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", v)
	}
	*e = append(*e, v)
	return nil
}

// apply sets each KEY=VALUE on the first line of cfg that sets KEY,
// keeping its indentation.
func (e edits) apply(cfg []byte) ([]byte, error) {
	for _, kv := range e {
		k, v, _ := strings.Cut(kv, "=")
		re := regexp.MustCompile(`(?m)^(\s*)` + regexp.QuoteMeta(k) + `:.*$`)
		loc := re.FindSubmatchIndex(cfg)
		if loc == nil {
			return nil, fmt.Errorf("-set %s: no line sets %s in the config `bizbots init` wrote", kv, k)
		}
		line := append([]byte{}, cfg[loc[2]:loc[3]]...)
		line = append(line, []byte(k+": "+v)...)
		cfg = append(cfg[:loc[0]], append(line, cfg[loc[1]:]...)...)
	}
	return cfg, nil
}

// serve starts `bizbots serve` with cfgPath listening on addr and waits
// until it accepts connections.
func (p *process) serve(ctx context.Context, bin, cfgPath, addr string, env []string) error {
	p.cmd = exec.Command(bin, "serve", "--config", cfgPath)
	p.cmd.Env = append(os.Environ(), env...)
	exited, err := startCmd(p.cmd, p.logPath)
	if err != nil {
		return err
	}
	p.exited = exited
	if err := waitListening(ctx, addr, exited); err != nil {
		return fmt.Errorf("%w (log: %s)\n%s", err, p.logPath, logTail(p.logPath))
	}
	return nil
}

// logTail is the end of a log, for an error message (the work directory
// is removed when the bench exits).
func logTail(path string) string {
	data, _ := os.ReadFile(path)
	if len(data) > 2000 {
		data = data[len(data)-2000:]
	}
	return string(data)
}

// invite opens a DM with the echo bot in rooms [from, to), in
// transactions of batch invites, and waits for every welcome (bounded:
// two minutes plus 20 ms per room).
func invite(ctx context.Context, ep endpoint, hs *homeserver, from, to, batch int) error {
	bot := "@echo:" + hs.domain
	for lo := from; lo < to; lo += batch {
		var evs []map[string]any
		for r := lo; r < min(lo+batch, to); r++ {
			room := roomID(r, hs.domain)
			evs = append(evs, map[string]any{
				"event_id": eventID(fmt.Sprintf("invite%d", r)), "room_id": room, "sender": customerOf(room, hs.domain),
				"type": "m.room.member", "state_key": bot, "origin_server_ts": time.Now().UnixMilli(),
				"content": map[string]any{"membership": "invite", "is_direct": true},
			})
		}
		if _, _, err := push(ctx, http.DefaultClient, ep, fmt.Sprintf("invites%d", lo), evs); err != nil {
			return err
		}
	}
	want := to - from
	deadline := time.Now().Add(2*time.Minute + time.Duration(want)*20*time.Millisecond)
	if !hs.waitFor(deadline, func() bool { return hs.welcomes >= want }) {
		return fmt.Errorf("only %d of %d rooms greeted", hs.welcomes, want)
	}
	return nil
}

// postgresDB makes a fresh database on the admin server (a copy of the
// database at template() when that is set) and a func that drops it.
func postgresDB(admin string, template func() (string, error)) func() (string, func(), error) {
	return func() (string, func(), error) {
		create := ""
		if template != nil {
			src, err := template()
			if err != nil {
				return "", nil, err
			}
			u, err := url.Parse(src)
			if err != nil {
				return "", nil, err
			}
			create = " TEMPLATE " + strings.TrimPrefix(u.Path, "/")
		}
		conn, err := sql.Open("postgres", admin)
		if err != nil {
			return "", nil, err
		}
		name := "bizbots_bench_" + token()[:10]
		if _, err := conn.Exec("CREATE DATABASE " + name + create); err != nil {
			conn.Close()
			return "", nil, fmt.Errorf("create benchmark database: %w", err)
		}
		uri := strings.Replace(admin, "/postgres?", "/"+name+"?", 1)
		return uri, func() {
			_, _ = conn.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
			conn.Close()
		}, nil
	}
}

func sqliteDB() (string, func(), error) { return "sqlite:", func() {}, nil }
