package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	_ "github.com/lib/pq"
)

// target is one appservice under test, started fresh for each run.
type target struct {
	name string
	// start runs the process against hs; it returns once it accepts
	// transactions (and, for bizbots, has joined the rooms).
	start func(ctx context.Context, hs *homeserver, rooms int) (*process, error)
}

type process struct {
	cmd     *exec.Cmd
	url     string // the appservice listener
	hsToken string
	cleanup []func()
	logPath string
}

func (p *process) stop() {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-done
		}
	}
	for i := len(p.cleanup) - 1; i >= 0; i-- {
		p.cleanup[i]()
	}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
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
	go func() { exited <- cmd.Wait(); f.Close() }()
	return exited, nil
}

// comparatorTarget is the bare mautrix-go echo appservice.
func comparatorTarget(bin, work string) target {
	return target{name: "mautrix", start: func(ctx context.Context, hs *homeserver, rooms int) (*process, error) {
		addr, err := freeAddr()
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
		if err := waitListening(ctx, addr, exited); err != nil {
			p.stop()
			return nil, err
		}
		return p, nil
	}}
}

// bizbotsTarget is `bizbots serve` with its echo bot on dbURI(), which
// makes a fresh database each time.
func bizbotsTarget(name, bin, work string, dbURI func() (string, func(), error)) target {
	return target{name: name, start: func(ctx context.Context, hs *homeserver, rooms int) (*process, error) {
		addr, err := freeAddr()
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
		}
		p := &process{url: "http://" + addr, logPath: filepath.Join(dir, "serve.log"), cleanup: []func(){dropDB}}
		cfgPath := filepath.Join(dir, "config.yaml")
		out, err := exec.Command(bin, "init", "--config", cfgPath, "--homeserver-url", hs.url, "--domain", hs.domain,
			"--listen", addr, "--database", uri).CombinedOutput()
		if err != nil {
			p.stop()
			return nil, fmt.Errorf("bizbots init: %v\n%s", err, out)
		}
		cfg, err := os.ReadFile(cfgPath)
		if err != nil {
			p.stop()
			return nil, err
		}
		// Quiet logs, as in production at load.
		cfg = regexp.MustCompile(`(?m)^  level: info$`).ReplaceAll(cfg, []byte("  level: warn"))
		cfg = regexp.MustCompile(`(?m)^  format: auto$`).ReplaceAll(cfg, []byte("  format: json"))
		if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
			p.stop()
			return nil, err
		}
		m := regexp.MustCompile(`(?m)^  hs_token: "?([0-9a-f]+)"?$`).FindSubmatch(cfg)
		if m == nil {
			p.stop()
			return nil, fmt.Errorf("no hs_token in %s", cfgPath)
		}
		p.hsToken = string(m[1])
		p.cmd = exec.Command(bin, "serve", "--config", cfgPath)
		exited, err := startCmd(p.cmd, p.logPath)
		if err != nil {
			p.stop()
			return nil, err
		}
		if err := waitListening(ctx, addr, exited); err != nil {
			p.stop()
			return nil, fmt.Errorf("%w (log: %s)", err, p.logPath)
		}
		// The customers invite the bot; it joins and greets each room.
		if err := invite(ctx, p, hs, rooms); err != nil {
			p.stop()
			return nil, fmt.Errorf("%w (log: %s)", err, p.logPath)
		}
		return p, nil
	}}
}

// invite opens a DM per room with the echo bot and waits for every welcome.
func invite(ctx context.Context, p *process, hs *homeserver, rooms int) error {
	bot := "@echo:" + hs.domain
	var evs []map[string]any
	for r := 0; r < rooms; r++ {
		room := roomID(r, hs.domain)
		evs = append(evs, map[string]any{
			"event_id": fmt.Sprintf("$invite%d", r), "room_id": room, "sender": customerOf(room, hs.domain),
			"type": "m.room.member", "state_key": bot, "origin_server_ts": time.Now().UnixMilli(),
			"content": map[string]any{"membership": "invite", "is_direct": true},
		})
	}
	if _, err := push(ctx, http.DefaultClient, p, "invites", evs); err != nil {
		return err
	}
	if !hs.waitFor(time.Now().Add(2*time.Minute), func() bool { return hs.welcomes >= rooms }) {
		return fmt.Errorf("only %d of %d rooms greeted", hs.welcomes, rooms)
	}
	return nil
}

// postgresDB makes a fresh database on the admin server and a func that
// drops it.
func postgresDB(admin string) func() (string, func(), error) {
	return func() (string, func(), error) {
		conn, err := sql.Open("postgres", admin)
		if err != nil {
			return "", nil, err
		}
		name := "bizbots_bench_" + token()[:10]
		if _, err := conn.Exec("CREATE DATABASE " + name); err != nil {
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
