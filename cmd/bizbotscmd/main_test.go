package bizbotscmd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/registration"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// syncBuffer is an io.Writer safe to share with the goroutines of `serve`.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type result struct {
	code           int
	stdout, stderr string
}

func runCmd(t *testing.T, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

// wantOneLineError checks a failed command: its exit code, nothing on
// stdout, exactly one line on stderr containing every want.
func wantOneLineError(t *testing.T, r result, code int, want ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit code %d, want %d (stderr %q)", r.code, code, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("stdout should be empty, got %q", r.stdout)
	}
	if strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") {
		t.Errorf("stderr should be exactly one line, got %q", r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr %q lacks %q", r.stderr, w)
		}
	}
}

type paths struct{ dir, cfg, reg string }

// initConfig runs `bizbots init` in a fresh directory.
func initConfig(t *testing.T, extra ...string) paths {
	t.Helper()
	dir := t.TempDir()
	p := paths{dir, filepath.Join(dir, "config.yaml"), filepath.Join(dir, "registration.yaml")}
	args := append([]string{"init", "--config", p.cfg, "--homeserver-url", "http://127.0.0.1:1", "--domain", "example.org"}, extra...)
	if r := runCmd(t, args...); r.code != 0 {
		t.Fatalf("init: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	return p
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func wantMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != want {
		t.Errorf("%s has mode %#o, want %#o", path, got, want)
	}
}

func wantMissing(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("%s should not exist (stat: %v)", path, err)
	}
}

func TestInit(t *testing.T) {
	dir := t.TempDir()
	cfgPath, regPath := filepath.Join(dir, "config.yaml"), filepath.Join(dir, "registration.yaml")
	r := runCmd(t, "init", "--config", cfgPath, "--homeserver-url", "http://localhost:8008", "--domain", "example.org")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	wantMode(t, cfgPath, 0o600)
	wantMode(t, regPath, 0o600)

	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatalf("the written config does not load: %v", err)
	}
	reg, err := registration.Load(regPath)
	if err != nil {
		t.Fatalf("the written registration does not load: %v", err)
	}
	if err := registration.Check(reg, cfg); err != nil {
		t.Errorf("registration and config disagree: %v", err)
	}
	if cfg.AppService.Registration != regPath {
		t.Errorf("config's registration is %q, want %q", cfg.AppService.Registration, regPath)
	}
	if cfg.Database.URI != "sqlite:"+filepath.Join(dir, "bizbots.db") {
		t.Errorf("database uri %q: want a sqlite file next to the config", cfg.Database.URI)
	}
	a := cfg.AppService
	if len(a.ASToken) != 64 || len(a.HSToken) != 64 || a.ASToken == a.HSToken {
		t.Errorf("tokens %q / %q: want two different 64-character tokens", a.ASToken, a.HSToken)
	}
	if strings.Contains(r.stdout, a.ASToken) || strings.Contains(r.stdout, a.HSToken) {
		t.Errorf("init printed a token")
	}

	if len(cfg.Bots) == 0 {
		t.Fatal("no bots in the new config")
	}
	for _, b := range cfg.Bots {
		if uid := "@" + b.Localpart + ":example.org"; !strings.Contains(r.stdout, uid) {
			t.Errorf("stdout lacks bot %s:\n%s", uid, r.stdout)
		}
	}
	for _, want := range []string{"Wrote " + cfgPath + " and " + regPath, "Next:", "Add " + regPath, "bizbots serve --config " + cfgPath} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestInitOptions(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	regPath := filepath.Join(t.TempDir(), "elsewhere.yaml")
	r := runCmd(t, "init", "--config", cfgPath, "--homeserver-url", "https://hs.example.org", "--domain", "example.org",
		"--listen", "0.0.0.0:4444", "--url", "http://bizbots.internal:4444", "--registration", regPath, "--database", "postgres://root@db/bizbots")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Homeserver.URL != "https://hs.example.org" || cfg.AppService.Listen != "0.0.0.0:4444" ||
		cfg.AppService.URL != "http://bizbots.internal:4444" || cfg.AppService.Registration != regPath ||
		cfg.Database.URI != "postgres://root@db/bizbots" {
		t.Errorf("options not in the config: %+v %+v %+v", cfg.Homeserver, cfg.AppService, cfg.Database)
	}
	reg, err := registration.Load(regPath)
	if err != nil {
		t.Fatal(err)
	}
	if reg.URL != "http://bizbots.internal:4444" {
		t.Errorf("registration url %q", reg.URL)
	}
	wantMissing(t, filepath.Join(dir, "registration.yaml"))
}

func TestInitRefusesToOverwrite(t *testing.T) {
	p := initConfig(t)
	cfgBefore, regBefore := readFile(t, p.cfg), readFile(t, p.reg)

	r := runCmd(t, "init", "--config", p.cfg, "--homeserver-url", "http://127.0.0.1:1", "--domain", "example.org")
	wantOneLineError(t, r, 1, "bizbots init: ", p.cfg+" already exists", "--force")
	if readFile(t, p.cfg) != cfgBefore || readFile(t, p.reg) != regBefore {
		t.Error("a refused init changed the files")
	}

	// Either file alone is enough to refuse, and then nothing is written.
	if err := os.Remove(p.cfg); err != nil {
		t.Fatal(err)
	}
	r = runCmd(t, "init", "--config", p.cfg, "--homeserver-url", "http://127.0.0.1:1", "--domain", "example.org")
	wantOneLineError(t, r, 1, p.reg+" already exists")
	wantMissing(t, p.cfg)
	if readFile(t, p.reg) != regBefore {
		t.Error("the registration changed")
	}

	q := initConfig(t)
	regBefore = readFile(t, q.reg)
	if err := os.Remove(q.reg); err != nil {
		t.Fatal(err)
	}
	cfgBefore = readFile(t, q.cfg)
	r = runCmd(t, "init", "--config", q.cfg, "--homeserver-url", "http://127.0.0.1:1", "--domain", "example.org")
	wantOneLineError(t, r, 1, q.cfg+" already exists")
	wantMissing(t, q.reg)
	if readFile(t, q.cfg) != cfgBefore {
		t.Error("the config changed")
	}
}

func TestInitForce(t *testing.T) {
	p := initConfig(t)
	old, err := config.Load(p.cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Loosened by hand: --force must make them 0600 again.
	for _, f := range []string{p.cfg, p.reg} {
		if err := os.Chmod(f, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := runCmd(t, "init", "--config", p.cfg, "--homeserver-url", "http://127.0.0.1:1", "--domain", "example.com", "--force")
	if r.code != 0 {
		t.Fatalf("init --force: exit %d: %s", r.code, r.stderr)
	}
	wantMode(t, p.cfg, 0o600)
	wantMode(t, p.reg, 0o600)
	cfg, err := config.Load(p.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Homeserver.Domain != "example.com" {
		t.Errorf("domain %q: the config was not replaced", cfg.Homeserver.Domain)
	}
	if cfg.AppService.ASToken == old.AppService.ASToken || cfg.AppService.HSToken == old.AppService.HSToken {
		t.Error("--force kept the old tokens")
	}
	reg, err := registration.Load(p.reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := registration.Check(reg, cfg); err != nil {
		t.Errorf("the replaced registration does not match the replaced config: %v", err)
	}
}

func TestInitUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"no domain", []string{"--homeserver-url", "http://localhost:8008"},
			[]string{"bizbots init: --homeserver-url and --domain are required"}},
		{"no homeserver url", []string{"--domain", "example.org"},
			[]string{"bizbots init: --homeserver-url and --domain are required"}},
		{"invalid domain", []string{"--homeserver-url", "http://localhost:8008", "--domain", "bad domain"},
			[]string{`bizbots init: homeserver.domain "bad domain" is not a valid server name`}},
		{"invalid homeserver url", []string{"--homeserver-url", "localhost:8008", "--domain", "example.org"},
			[]string{`homeserver.url "localhost:8008" must start with http:// or https://`}},
		{"stray argument", []string{"--homeserver-url", "http://localhost:8008", "--domain", "example.org", "now"},
			[]string{`bizbots init: unexpected argument "now"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfgPath := filepath.Join(dir, "config.yaml")
			r := runCmd(t, append([]string{"init", "--config", cfgPath}, tt.args...)...)
			wantOneLineError(t, r, 2, tt.want...)
			wantMissing(t, cfgPath)
			wantMissing(t, filepath.Join(dir, "registration.yaml"))
		})
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown command", []string{"frobnicate"}, []string{`bizbots: unknown command "frobnicate"`, "(commands: " + commandNames() + ")"}},
		{"unknown global flag", []string{"--bogus", "version"}, []string{"bizbots: unknown flag --bogus"}},
		{"--config without a value", []string{"--config"}, []string{"flag needs an argument: --config"}},
		{"unknown init flag", []string{"init", "--bogus"}, []string{"bizbots init: flag provided but not defined: -bogus"}},
		{"unknown serve flag", []string{"serve", "--port", "1"}, []string{"bizbots serve: flag provided but not defined: -port"}},
		{"unknown migrate flag", []string{"migrate", "-x"}, []string{"bizbots migrate: flag provided but not defined: -x"}},
		{"unknown generate-registration flag", []string{"generate-registration", "--out", "f"}, []string{"bizbots generate-registration: flag provided but not defined: -out"}},
		{"unknown version flag", []string{"version", "--short"}, []string{"bizbots version: flag provided but not defined: -short"}},
		{"command flag without value", []string{"migrate", "--config"}, []string{"bizbots migrate: flag needs an argument: -config"}},
		{"stray argument", []string{"version", "extra"}, []string{`bizbots version: unexpected argument "extra"`}},
		{"bad bool value", []string{"generate-registration", "--force=maybe"}, []string{"bizbots generate-registration: invalid boolean value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantOneLineError(t, runCmd(t, tt.args...), 2, tt.want...)
		})
	}
}

func TestNoCommand(t *testing.T) {
	r := runCmd(t)
	if r.code != 2 || r.stdout != "" {
		t.Errorf("exit %d stdout %q", r.code, r.stdout)
	}
	if !strings.Contains(r.stderr, "Usage: bizbots [--config FILE] <command>") {
		t.Errorf("no usage on stderr: %q", r.stderr)
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		r := runCmd(t, args...)
		if r.code != 0 || r.stderr != "" {
			t.Errorf("%v: exit %d stderr %q", args, r.code, r.stderr)
		}
		want := []string{"Usage: bizbots [--config FILE] <command>", config.EnvConfigPath}
		for _, c := range commands {
			want = append(want, "  "+c.name+" ", c.summary)
		}
		for _, c := range want {
			if !strings.Contains(r.stdout, c) {
				t.Errorf("%v: usage lacks %q:\n%s", args, c, r.stdout)
			}
		}
	}
	if len(commands) < 5 {
		t.Fatalf("only %d commands", len(commands))
	}
	for _, c := range commands {
		cmd := c.name
		for _, h := range []string{"--help", "-h"} {
			t.Run(cmd+h, func(t *testing.T) {
				r := runCmd(t, cmd, h)
				if r.code != 0 || r.stderr != "" {
					t.Errorf("exit %d stderr %q", r.code, r.stderr)
				}
				for _, want := range []string{"Usage: bizbots " + cmd, "Flags:", "-config"} {
					if !strings.Contains(r.stdout, want) {
						t.Errorf("help lacks %q:\n%s", want, r.stdout)
					}
				}
			})
		}
	}
	r := runCmd(t, "init", "--help")
	for _, f := range []string{"-homeserver-url", "-domain", "-force", "-listen", "-database", "-registration"} {
		if !strings.Contains(r.stdout, f) {
			t.Errorf("init help lacks %s", f)
		}
	}
	r = runCmd(t, "generate-registration", "--help")
	for _, f := range []string{"-output", "-force"} {
		if !strings.Contains(r.stdout, f) {
			t.Errorf("generate-registration help lacks %s", f)
		}
	}
}

func TestGenerateRegistration(t *testing.T) {
	p := initConfig(t)
	cfg, err := config.Load(p.cfg)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "reg.yaml")
	r := runCmd(t, "generate-registration", "--config", p.cfg, "--output", out)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d stderr %q", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "Wrote "+out) {
		t.Errorf("stdout %q", r.stdout)
	}
	wantMode(t, out, 0o600)
	reg, err := registration.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := registration.Check(reg, cfg); err != nil {
		t.Errorf("generated registration fails Check: %v", err)
	}

	before := readFile(t, out)
	r = runCmd(t, "generate-registration", "--config", p.cfg, "--output", out)
	wantOneLineError(t, r, 1, "bizbots generate-registration: ", out, "file exists", "--force")
	if readFile(t, out) != before {
		t.Error("the registration changed without --force")
	}
	if r := runCmd(t, "generate-registration", "--config", p.cfg, "--output", out, "--force"); r.code != 0 {
		t.Errorf("--force: exit %d %s", r.code, r.stderr)
	}
}

func TestGenerateRegistrationDefaultPath(t *testing.T) {
	// Without --output the registration goes where the config says,
	// relative to the config file and not to the working directory.
	p := initConfig(t)
	if err := os.Remove(p.reg); err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	r := runCmd(t, "generate-registration", "--config", p.cfg)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	wantMode(t, p.reg, 0o600)
	wantMissing(t, "registration.yaml")
}

func TestGenerateRegistrationToStdout(t *testing.T) {
	p := initConfig(t)
	cfg, err := config.Load(p.cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := runCmd(t, "generate-registration", "--config", p.cfg, "--output", "-")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d stderr %q", r.code, r.stderr)
	}
	var reg registration.Registration
	if err := yaml.Unmarshal([]byte(r.stdout), &reg); err != nil {
		t.Fatalf("stdout is not a registration: %v\n%s", err, r.stdout)
	}
	if err := registration.Check(&reg, cfg); err != nil {
		t.Errorf("printed registration fails Check: %v", err)
	}
	if reg.ASToken != cfg.AppService.ASToken || reg.HSToken != cfg.AppService.HSToken {
		t.Error("printed tokens differ from the config")
	}
	if _, err := os.Stat("-"); err == nil {
		t.Error(`a file named "-" was written`)
	}
}

func TestMigrateSQLite(t *testing.T) {
	p := initConfig(t)
	t.Chdir(t.TempDir()) // the database lives next to the config, not here
	r := runCmd(t, "migrate", "--config", p.cfg)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d stderr %q", r.code, r.stderr)
	}
	latest := store.LatestVersion()
	if want := fmt.Sprintf("Database schema upgraded from version 0 to %d (sqlite).\n", latest); r.stdout != want {
		t.Errorf("stdout %q, want %q", r.stdout, want)
	}
	r = runCmd(t, "migrate", "--config", p.cfg)
	if want := fmt.Sprintf("Database schema is up to date (version %d, sqlite).\n", latest); r.code != 0 || r.stdout != want {
		t.Errorf("second run: exit %d stdout %q, want %q", r.code, r.stdout, want)
	}
	wantSchema(t, "sqlite:"+filepath.Join(p.dir, "bizbots.db"))
	wantMissing(t, "bizbots.db")
}

func TestMigratePostgres(t *testing.T) {
	// Switch a new config from the SQLite default to Postgres by hand, as
	// an admin would.
	p := initConfig(t)
	uri := storetest.URI(t, store.Postgres)
	text := readFile(t, p.cfg)
	const sqliteLine = `uri: "sqlite:bizbots.db"`
	if strings.Count(text, sqliteLine) != 1 {
		t.Fatalf("the new config has no %s line:\n%s", sqliteLine, text)
	}
	if err := os.WriteFile(p.cfg, []byte(strings.Replace(text, sqliteLine, "uri: "+strconv.Quote(uri), 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCmd(t, "migrate", "--config", p.cfg)
	latest := store.LatestVersion()
	if want := fmt.Sprintf("Database schema upgraded from version 0 to %d (postgres).\n", latest); r.code != 0 || r.stdout != want {
		t.Fatalf("exit %d stdout %q stderr %q, want %q", r.code, r.stdout, r.stderr, want)
	}
	r = runCmd(t, "migrate", "--config", p.cfg)
	if want := fmt.Sprintf("Database schema is up to date (version %d, postgres).\n", latest); r.code != 0 || r.stdout != want {
		t.Errorf("second run: exit %d stdout %q, want %q", r.code, r.stdout, want)
	}
	wantSchema(t, uri)
}

func wantSchema(t *testing.T, uri string) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, uri, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Prepare(ctx); err != nil {
		t.Errorf("the migrated database is not ready to serve: %v", err)
	}
}

func TestMigrateErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.yaml")
	wantOneLineError(t, runCmd(t, "migrate", "--config", missing), 1, "bizbots migrate: config file "+missing+" not found", "bizbots init")

	// A database that cannot be reached is an error, not a hang.
	p := initConfig(t, "--database", "postgres://root@127.0.0.1:1/none?sslmode=disable&connect_timeout=5")
	r := runCmd(t, "migrate", "--config", p.cfg)
	if r.code != 1 || !strings.Contains(r.stderr, "bizbots migrate: connect to postgres database") {
		t.Errorf("exit %d stderr %q", r.code, r.stderr)
	}
}

func TestConfigFromEnvironment(t *testing.T) {
	p := initConfig(t)
	t.Chdir(t.TempDir())
	t.Setenv(config.EnvConfigPath, p.cfg)
	r := runCmd(t, "migrate")
	if r.code != 0 || !strings.Contains(r.stdout, "upgraded from version 0") {
		t.Fatalf("migrate with %s: exit %d stdout %q stderr %q", config.EnvConfigPath, r.code, r.stdout, r.stderr)
	}
	cfg, err := config.Load(p.cfg)
	if err != nil {
		t.Fatal(err)
	}
	r = runCmd(t, "generate-registration", "--output", "-")
	if r.code != 0 || !strings.Contains(r.stdout, cfg.AppService.HSToken) {
		t.Errorf("generate-registration with %s: exit %d stderr %q", config.EnvConfigPath, r.code, r.stderr)
	}

	// The environment names a file that does not exist: the error says which.
	missing := filepath.Join(t.TempDir(), "gone.yaml")
	t.Setenv(config.EnvConfigPath, missing)
	wantOneLineError(t, runCmd(t, "migrate"), 1, missing+" not found")
	// --config wins over the environment, before or after the command.
	for _, args := range [][]string{
		{"migrate", "--config", p.cfg},
		{"--config", p.cfg, "migrate"},
		{"--config=" + p.cfg, "migrate"},
	} {
		if r := runCmd(t, args...); r.code != 0 || !strings.Contains(r.stdout, "up to date") {
			t.Errorf("%v: exit %d stdout %q stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
}

func TestDefaultConfigPath(t *testing.T) {
	// No --config and no environment: config.yaml in the working directory.
	t.Setenv(config.EnvConfigPath, "")
	dir := t.TempDir()
	t.Chdir(dir)
	r := runCmd(t, "init", "--homeserver-url", "http://127.0.0.1:1", "--domain", "example.org")
	if r.code != 0 {
		t.Fatalf("init: exit %d %s", r.code, r.stderr)
	}
	wantMode(t, filepath.Join(dir, config.DefaultPath), 0o600)
	wantMode(t, filepath.Join(dir, "registration.yaml"), 0o600)
	if r := runCmd(t, "migrate"); r.code != 0 {
		t.Errorf("migrate: exit %d %s", r.code, r.stderr)
	}
}

func TestVersionLine(t *testing.T) {
	info := &debug.BuildInfo{Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.modified", Value: "true"},
	}}
	got := versionLine(info, "2026-12-06T21:00:00Z")
	want := fmt.Sprintf("bizbots %s (commit 0123456789ab+changes, built 2026-12-06T21:00:00Z; schema version %d, ", version, store.LatestVersion())
	if !strings.HasPrefix(got, want) {
		t.Errorf("got %q, want it to start %q", got, want)
	}
	if got := versionLine(nil, ""); !strings.Contains(got, "commit unknown, built unknown") {
		t.Errorf("no build info: %q", got)
	}
}

func TestVersion(t *testing.T) {
	want := fmt.Sprintf("bizbots %s (commit ", version)
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := runCmd(t, args...)
		if r.code != 0 || r.stderr != "" || !strings.HasPrefix(r.stdout, want) || strings.Count(r.stdout, "\n") != 1 {
			t.Errorf("%v: exit %d stdout %q stderr %q, want a line starting %q", args, r.code, r.stdout, r.stderr, want)
		}
	}
}

// serveUntil makes `serve` stop when ctx ends instead of on a signal.
func serveUntil(t *testing.T, ctx context.Context) {
	t.Helper()
	orig := serveContext
	serveContext = func() (context.Context, context.CancelFunc) { return context.WithCancel(ctx) }
	t.Cleanup(func() { serveContext = orig })
}

// running is a `serve` started by startServe.
type running struct {
	stderr *syncBuffer
	done   chan int
	cancel context.CancelFunc
	once   sync.Once
}

// stop ends serve and waits for it (also run at the test's end); false
// when it did not stop within 30 s.
func (r *running) stop() bool {
	stopped := true
	r.once.Do(func() {
		r.cancel()
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
			stopped = false
		}
	})
	return stopped
}

// startServe runs `serve --config cfg` in the background until stop or
// the end of the test.
func startServe(t *testing.T, cfg string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	serveUntil(t, ctx)
	r := &running{stderr: &syncBuffer{}, done: make(chan int, 1), cancel: cancel}
	go func() { r.done <- run([]string{"serve", "--config", cfg}, io.Discard, r.stderr) }()
	t.Cleanup(func() {
		if !r.stop() {
			t.Error("serve did not stop within 30 s")
		}
	})
	return r
}

// cancelledServe makes a `serve` that got past its checks return at once
// instead of running until the test times out.
func cancelledServe(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	serveUntil(t, ctx)
}

func TestServeRefusesMismatchedRegistration(t *testing.T) {
	cancelledServe(t)
	p := initConfig(t, "--listen", freePort(t))
	reg, err := registration.Load(p.reg)
	if err != nil {
		t.Fatal(err)
	}
	reg.HSToken = strings.Repeat("f", 64)
	reg.ID = "someone-else"
	if err := reg.Write(p.reg, true); err != nil {
		t.Fatal(err)
	}
	r := runCmd(t, "serve", "--config", p.cfg)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1; stderr %q", r.code, r.stderr)
	}
	for _, want := range []string{"bizbots serve: registration does not match the config", `id is "someone-else"`,
		"hs_token differs from appservice.hs_token", "bizbots generate-registration --force --config " + p.cfg} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	wantMissing(t, filepath.Join(p.dir, "bizbots.db"))
}

func TestServeWithoutRegistration(t *testing.T) {
	cancelledServe(t)
	p := initConfig(t, "--listen", freePort(t))
	if err := os.Remove(p.reg); err != nil {
		t.Fatal(err)
	}
	r := runCmd(t, "serve", "--config", p.cfg)
	wantOneLineError(t, r, 1, "bizbots serve: read registration", p.reg, "write it with `bizbots generate-registration`")
}

// freePort returns a loopback address nothing listens on right now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestServeStartsAndStops(t *testing.T) {
	listen := freePort(t)
	homeserver := freePort(t) // closed: provisioning retries in the background
	p := initConfig(t, "--listen", listen, "--homeserver-url", "http://"+homeserver)
	// An option from an older config still loads, with a deprecation.
	text := readFile(t, p.cfg)
	if err := os.WriteFile(p.cfg, []byte(strings.Replace(text, "  max_backoff: 5m", "  max_attempts: 12\n  max_backoff: 5m", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p.cfg)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	serveUntil(t, ctx)

	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- run([]string{"serve", "--config", p.cfg}, &stdout, &stderr) }()
	exited := false
	defer func() {
		if !exited {
			cancel()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Error("serve did not stop after cancel")
			}
		}
	}()

	base := "http://" + listen
	client := &http.Client{Timeout: 10 * time.Second}
	// Wait until it answers; bounded, and a serve that exits is reported.
	var health *http.Response
	for attempt := 0; health == nil; attempt++ {
		if attempt == 300 {
			t.Fatalf("serve did not answer on %s; stderr:\n%s", listen, stderr.String())
		}
		if resp, err := client.Get(base + "/health"); err == nil {
			health = resp
			break
		}
		select {
		case code := <-done:
			exited = true
			t.Fatalf("serve exited with %d before answering; stderr:\n%s", code, stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	var hb map[string]string
	err = json.NewDecoder(health.Body).Decode(&hb)
	health.Body.Close()
	if health.StatusCode != http.StatusOK || err != nil || hb["status"] != "ok" {
		t.Errorf("/health: status %d body %v (%v)", health.StatusCode, hb, err)
	}

	// The queue gauges are served.
	if resp, err := client.Get(base + "/metrics"); err != nil {
		t.Error(err)
	} else {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{`bizbots_queue_waiting{queue="outbox"} 0`, "bizbots_outbox_failed_replies 0", "bizbots_inbox_parked_events 0"} {
			if !strings.Contains(string(body), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	}

	// Unauthenticated transaction: 401.
	req, _ := http.NewRequest(http.MethodPut, base+"/_matrix/app/v1/transactions/1", strings.NewReader(`{"events":[]}`))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var eb map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&eb)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || eb["errcode"] != "M_MISSING_TOKEN" {
		t.Errorf("unauthenticated transaction: status %d body %v", resp.StatusCode, eb)
	}

	// The hs_token from the config is the one the server checks.
	req, _ = http.NewRequest(http.MethodPost, base+"/_matrix/app/v1/ping", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+cfg.AppService.HSToken)
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("authenticated ping: status %d", resp.StatusCode)
	}

	// The container's HEALTHCHECK: healthy while it runs.
	if r := runCmd(t, "healthcheck", "--config", p.cfg); r.code != 0 || !strings.Contains(r.stdout, "healthy: ok") {
		t.Errorf("healthcheck of a running serve: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	cancel()
	select {
	case code := <-done:
		exited = true
		if code != 0 {
			t.Errorf("serve exited with %d after cancel; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		exited = true // the deferred wait would only wait again
		t.Fatalf("serve did not stop after cancel; stderr:\n%s", stderr.String())
	}
	logs := stderr.String()
	for _, want := range []string{"bizbots is running", "shutting down", "stopped", "sender.max_attempts is ignored"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, cfg.AppService.HSToken) || strings.Contains(logs, cfg.AppService.ASToken) {
		t.Error("a token was logged")
	}
	r := runCmd(t, "healthcheck", "--config", p.cfg, "--timeout", "2s")
	wantOneLineError(t, r, 1, "bizbots healthcheck: no answer from http://"+listen+"/health", "is `bizbots serve` running")
	// Stopped means the port is closed.
	if resp, err := client.Get(base + "/health"); err == nil {
		resp.Body.Close()
		t.Errorf("still answering on %s after stop", listen)
	}
	// serve migrated the database it uses.
	wantSchema(t, cfg.Database.URI)
}

// A second `serve` on the same SQLite file is refused before it touches
// the database, naming the process that holds it.
func TestServeRefusesSecondSQLiteProcess(t *testing.T) {
	cancelledServe(t)
	p := initConfig(t, "--listen", freePort(t))
	cfg, err := config.Load(p.cfg)
	if err != nil {
		t.Fatal(err)
	}
	release, err := store.LockWriter(cfg.Database.URI) // the running one
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	r := runCmd(t, "serve", "--config", p.cfg)
	wantOneLineError(t, r, 1, "bizbots serve: another bizbots process is serving this SQLite database", fmt.Sprintf("pid %d", os.Getpid()), "Postgres")
}

// The config holds the tokens: a file others can read gets a warning
// that says how to fix it.
func TestServeWarnsAboutReadableConfig(t *testing.T) {
	cancelledServe(t)
	p := initConfig(t, "--listen", freePort(t))
	if err := os.Chmod(p.cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	// (serve then stops at once: its context is cancelled)
	r := runCmd(t, "serve", "--config", p.cfg)
	if !strings.Contains(r.stderr, "readable by other users") || !strings.Contains(r.stderr, "chmod 600 "+p.cfg) {
		t.Errorf("no permission warning in:\n%s", r.stderr)
	}
	if err := os.Chmod(p.cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runCmd(t, "serve", "--config", p.cfg); strings.Contains(r.stderr, "readable by other users") {
		t.Errorf("warning for a 0600 file:\n%s", r.stderr)
	}
}

// A wrong homeserver.domain used to surface as "401 M_UNKNOWN_TOKEN" on a
// display name; a stale as_token as "bot users registered". serve now asks
// the homeserver first and says what to change.
func TestServeNamesHomeserverMisconfiguration(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/_matrix/client/versions":
			_, _ = w.Write([]byte(`{"versions":["v1.1"]}`))
		case "/_matrix/client/v3/account/whoami":
			_, _ = w.Write([]byte(`{"user_id":"@bizbots:real.example"}`))
		default:
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"errcode":"M_UNKNOWN_TOKEN","error":"Unknown token"}`))
		}
	}))
	defer hs.Close()
	p := initConfig(t, "--listen", freePort(t), "--homeserver-url", hs.URL)
	sv := startServe(t, p.cfg)
	deadline := time.After(20 * time.Second)
	for !strings.Contains(sv.stderr.String(), `set homeserver.domain: \"real.example\"`) {
		select {
		case code := <-sv.done:
			t.Fatalf("serve exited %d; stderr:\n%s", code, sv.stderr.String())
		case <-deadline:
			t.Fatalf("serve never named the domain mismatch; stderr:\n%s", sv.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if !sv.stop() {
		t.Error("serve did not stop within 30 s")
	}
	if logs := sv.stderr.String(); strings.Contains(logs, "bot users registered") || strings.Contains(logs, "M_UNKNOWN_TOKEN") {
		t.Errorf("misleading log lines:\n%s", logs)
	}
}

// The documented restore: a backup taken while data is there, put in
// place of a fresh install's database, is what serve then runs on.
func TestBackupAndRestoreThenServe(t *testing.T) {
	p := initConfig(t, "--listen", freePort(t))
	if r := runCmd(t, "migrate", "--config", p.cfg); r.code != 0 {
		t.Fatal(r.stderr)
	}
	cfg, err := config.Load(p.cfg)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), cfg.Database.URI, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.StoreTransaction(context.Background(), "t1", []store.IncomingEvent{{EventID: "$a", RoomID: "!r:example.org",
		Sender: "@ana:example.org", Type: "m.room.message", JSON: []byte(`{"event_id":"$a","room_id":"!r:example.org","sender":"@ana:example.org","type":"m.room.message","content":{}}`)}}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	backup := filepath.Join(t.TempDir(), "b.db")
	r := runCmd(t, "backup", "--config", p.cfg, "--output", backup)
	if r.code != 0 || !strings.Contains(r.stdout, "Backup written to "+backup) {
		t.Fatalf("backup: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runCmd(t, "backup", "--config", p.cfg, "--output", backup); r.code != 1 || !strings.Contains(r.stderr, "exists") {
		t.Errorf("backup over an existing file: exit %d %s", r.code, r.stderr)
	}

	// A fresh install somewhere else, its database replaced by the backup.
	q := initConfig(t, "--listen", freePort(t))
	qcfg, err := config.Load(q.cfg)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(strings.TrimPrefix(qcfg.Database.URI, "sqlite:"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	cancelledServe(t)
	if r := runCmd(t, "serve", "--config", q.cfg); r.code != 0 && !strings.Contains(r.stderr, "context canceled") {
		t.Fatalf("serve on the restored database: exit %d %s", r.code, r.stderr)
	}
	restored, err := store.Open(context.Background(), qcfg.Database.URI, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	var n int
	if err := restored.QueryRow(`SELECT COUNT(*) FROM inbox WHERE event_id = '$a'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("restored database lost the event: %d (%v)", n, err)
	}
}
