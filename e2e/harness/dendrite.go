// Package harness runs a real Matrix homeserver (Dendrite v0.13.8) on the
// loopback interface for end-to-end tests and for `make demo`.
//
// The Dendrite binaries are built once by scripts/build-dendrite.sh into
// .cache/dendrite-v0.13.8/bin (or wherever DENDRITE_BIN_DIR points). The
// harness writes a Dendrite config into a work dir (SQLite databases, no
// federation, no rate limiting, a registration shared secret), starts the
// server on 127.0.0.1:PORT, waits for /_matrix/client/versions, and stops it
// with SIGTERM (then SIGKILL). It uses only the standard library so that it
// lives in the main module without adding dependencies.
package harness

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // the Synapse shared-secret admin API is defined with HMAC-SHA1
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"text/template"
	"time"
)

// DendriteVersion is the Dendrite release pinned in tools/dendrite/go.mod.
const DendriteVersion = "v0.13.8"

// Options configure StartDendrite.
type Options struct {
	// BinDir holds the dendrite and generate-keys binaries. Empty means
	// DendriteBinDir().
	BinDir string
	// WorkDir receives the config, signing key, SQLite databases, media,
	// JetStream storage and dendrite.log. It is created if missing.
	WorkDir string
	// Port to listen on at 127.0.0.1; 0 picks a free one.
	Port int
	// ServerName is the Matrix server name; empty means "localhost".
	ServerName string
	// Registrations are appservice registration YAML files
	// (app_service_api.config_files).
	Registrations []string
	// SharedSecret for /_synapse/admin/v1/register (and create-account);
	// empty means a random one.
	SharedSecret string
	// OpenRegistration lets any client register an account
	// (-really-enable-open-registration). Off by default.
	OpenRegistration bool
	// StartTimeout bounds the wait for /_matrix/client/versions; 0 means 60s.
	StartTimeout time.Duration
	// LogLevel of Dendrite's log (trace, debug, info, warn, error);
	// empty means "info".
	LogLevel string
	// Stdout, if set, also receives Dendrite's log output (besides
	// WorkDir/dendrite.log).
	Stdout io.Writer
	// Federation serves the federation API on the same loopback port
	// (off by default: the harness is one server). The console's OpenID
	// sign-in needs its openid/userinfo endpoint.
	Federation bool
}

// Dendrite is a running homeserver.
type Dendrite struct {
	URL          string // http://127.0.0.1:PORT
	Port         int
	ServerName   string
	WorkDir      string
	ConfigPath   string
	LogPath      string
	SharedSecret string
	BinDir       string

	cmd     *exec.Cmd
	logFile *os.File
	done    chan struct{}
	waitErr error

	stopOnce sync.Once
	stopErr  error
}

// RepoRoot walks up from the working directory to the directory holding the
// go.mod of module github.com/bizbots/bizbots.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for i := 0; i < 64; i++ {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && moduleLine(data) == "github.com/bizbots/bizbots" {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", errors.New("harness: repository root (go.mod of github.com/bizbots/bizbots) not found above the working directory")
}

func moduleLine(gomod []byte) string {
	for _, line := range strings.Split(string(gomod), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "module ") {
			return strings.Trim(strings.TrimSpace(strings.TrimPrefix(line, "module ")), `"`)
		}
	}
	return ""
}

// DendriteBinDir is $DENDRITE_BIN_DIR, or <repo>/.cache/dendrite-v0.13.8/bin.
func DendriteBinDir() (string, error) {
	if dir := os.Getenv("DENDRITE_BIN_DIR"); dir != "" {
		return filepath.Abs(dir)
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, ".cache", "dendrite-"+DendriteVersion, "bin"), nil
}

// CheckBinaries reports an error naming the first missing Dendrite binary.
func CheckBinaries(binDir string) error {
	for _, name := range []string{"dendrite", "generate-keys"} {
		p := filepath.Join(binDir, name)
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("harness: %s missing (run scripts/build-dendrite.sh or set DENDRITE_BIN_DIR): %w", p, err)
		}
		if st.Mode()&0o111 == 0 {
			return fmt.Errorf("harness: %s is not executable", p)
		}
	}
	return nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// RandomToken returns n random bytes, hex-encoded.
func RandomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// StartDendrite writes the config and signing key into opts.WorkDir, starts
// Dendrite and waits until it answers GET /_matrix/client/versions. The
// caller must call Stop.
func StartDendrite(ctx context.Context, opts Options) (*Dendrite, error) {
	var err error
	if opts.BinDir == "" {
		if opts.BinDir, err = DendriteBinDir(); err != nil {
			return nil, err
		}
	}
	if err := CheckBinaries(opts.BinDir); err != nil {
		return nil, err
	}
	if opts.WorkDir == "" {
		return nil, errors.New("harness: WorkDir is required")
	}
	workDir, err := filepath.Abs(opts.WorkDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return nil, err
	}
	if opts.ServerName == "" {
		opts.ServerName = "localhost"
	}
	if opts.SharedSecret == "" {
		opts.SharedSecret = RandomToken(16)
	}
	if opts.Port == 0 {
		if opts.Port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 60 * time.Second
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "info"
	}
	var regs []string
	for _, r := range opts.Registrations {
		abs, err := filepath.Abs(r)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, fmt.Errorf("harness: registration file: %w", err)
		}
		regs = append(regs, abs)
	}

	keyPath := filepath.Join(workDir, "matrix_key.pem")
	if _, err := os.Stat(keyPath); errors.Is(err, os.ErrNotExist) {
		out, err := exec.CommandContext(ctx, filepath.Join(opts.BinDir, "generate-keys"), "-private-key", keyPath).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("harness: generate-keys: %w: %s", err, out)
		}
	}

	d := &Dendrite{
		URL:          fmt.Sprintf("http://127.0.0.1:%d", opts.Port),
		Port:         opts.Port,
		ServerName:   opts.ServerName,
		WorkDir:      workDir,
		ConfigPath:   filepath.Join(workDir, "dendrite.yaml"),
		LogPath:      filepath.Join(workDir, "dendrite.log"),
		SharedSecret: opts.SharedSecret,
		BinDir:       opts.BinDir,
		done:         make(chan struct{}),
	}
	cfg, err := renderConfig(configParams{
		ServerName:    opts.ServerName,
		WorkDir:       workDir,
		KeyPath:       keyPath,
		SharedSecret:  opts.SharedSecret,
		Registrations: regs,
		LogLevel:      opts.LogLevel,
		Federation:    opts.Federation,
	})
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(d.ConfigPath, cfg, 0o600); err != nil {
		return nil, err
	}

	d.logFile, err = os.OpenFile(d.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	var out io.Writer = d.logFile
	if opts.Stdout != nil {
		out = io.MultiWriter(d.logFile, opts.Stdout)
	}
	args := []string{
		"-config", d.ConfigPath,
		"-http-bind-address", fmt.Sprintf("127.0.0.1:%d", opts.Port),
		// Only served when -tls-cert/-tls-key are given; pinned to loopback anyway.
		"-https-bind-address", "127.0.0.1:0",
	}
	if opts.OpenRegistration {
		args = append(args, "-really-enable-open-registration")
	}
	// Not CommandContext: the process must outlive ctx (which only bounds
	// the start-up) and is stopped by Stop.
	d.cmd = exec.Command(filepath.Join(opts.BinDir, "dendrite"), args...)
	d.cmd.Dir = workDir
	d.cmd.Stdout = out
	d.cmd.Stderr = out
	d.cmd.Env = childEnv()
	// Own process group: a Ctrl-C on the terminal goes to the parent, which
	// then stops Dendrite in order.
	d.cmd.SysProcAttr = procAttr()
	if err := d.cmd.Start(); err != nil {
		d.logFile.Close()
		return nil, fmt.Errorf("harness: start dendrite: %w", err)
	}
	go func() {
		d.waitErr = d.cmd.Wait()
		close(d.done)
	}()

	wctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	if err := d.waitReady(wctx); err != nil {
		_ = d.Stop()
		return nil, fmt.Errorf("%w\n--- tail of %s ---\n%s", err, d.LogPath, TailFile(d.LogPath, 40))
	}
	return d, nil
}

// childEnv is the environment without variables that would make Dendrite
// open extra listeners (pprof) or talk through a proxy.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case "PPROFLISTEN", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY":
			continue
		}
		env = append(env, kv)
	}
	return env
}

func (d *Dendrite) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: 2 * time.Second}
	url := d.URL + "/_matrix/client/versions"
	// Bounded by ctx; at most one attempt per 100ms.
	for attempt := 0; ; attempt++ {
		select {
		case <-d.done:
			return fmt.Errorf("harness: dendrite exited during start-up: %v", d.waitErr)
		default:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && bytes.Contains(body, []byte(`"versions"`)) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("harness: dendrite did not answer %s after %d attempts: %w", url, attempt+1, ctx.Err())
		case <-d.done:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Done is closed when the Dendrite process has exited.
func (d *Dendrite) Done() <-chan struct{} { return d.done }

// Stop sends SIGTERM, waits up to 15s, then SIGKILLs. It is safe to call
// more than once.
func (d *Dendrite) Stop() error {
	d.stopOnce.Do(func() {
		d.stopErr = StopProcess(d.cmd, d.done, 15*time.Second)
		if d.logFile != nil {
			d.logFile.Close()
		}
	})
	return d.stopErr
}

// StopProcess sends SIGTERM to cmd's process, waits up to grace for done to
// close, then sends SIGKILL and waits up to 5s more.
func StopProcess(cmd *exec.Cmd, done <-chan struct{}, grace time.Duration) error {
	if cmd == nil || cmd.Process == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return nil
	case <-time.After(grace):
	}
	_ = cmd.Process.Kill()
	select {
	case <-done:
		return fmt.Errorf("harness: %s did not stop within %s of SIGTERM; killed", filepath.Base(cmd.Path), grace)
	case <-time.After(5 * time.Second):
		return fmt.Errorf("harness: %s did not exit after SIGKILL", filepath.Base(cmd.Path))
	}
}

// TailFile returns the last n lines of a file (for failure messages).
func TailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// UserID returns @localpart:server_name.
func (d *Dendrite) UserID(localpart string) string {
	return "@" + localpart + ":" + d.ServerName
}

// User is an account with an access token.
type User struct {
	UserID      string `json:"user_id"`
	AccessToken string `json:"access_token"`
	DeviceID    string `json:"device_id"`
	Password    string `json:"-"`
}

// RegisterUser creates an account through the shared-secret admin API
// (/_synapse/admin/v1/register, what Dendrite's create-account tool uses).
func (d *Dendrite) RegisterUser(ctx context.Context, localpart, password string, admin bool) (*User, error) {
	registerURL := d.URL + "/_synapse/admin/v1/register"
	var nonceResp struct {
		Nonce string `json:"nonce"`
	}
	if err := doJSON(ctx, http.MethodGet, registerURL, "", nil, &nonceResp); err != nil {
		return nil, fmt.Errorf("harness: register %s: nonce: %w", localpart, err)
	}
	adminStr := "notadmin"
	if admin {
		adminStr = "admin"
	}
	mac := hmac.New(sha1.New, []byte(d.SharedSecret))
	for i, part := range []string{nonceResp.Nonce, localpart, password, adminStr} {
		if i > 0 {
			mac.Write([]byte{0})
		}
		mac.Write([]byte(part))
	}
	req := map[string]any{
		"nonce":    nonceResp.Nonce,
		"username": localpart,
		"password": password,
		"admin":    admin,
		"mac":      hex.EncodeToString(mac.Sum(nil)),
	}
	var u User
	if err := doJSON(ctx, http.MethodPost, registerURL, "", req, &u); err != nil {
		return nil, fmt.Errorf("harness: register %s: %w", localpart, err)
	}
	u.Password = password
	return &u, nil
}

// Login logs a user in with a password (m.login.password) and returns a
// fresh access token.
func (d *Dendrite) Login(ctx context.Context, localpart, password string) (*User, error) {
	req := map[string]any{
		"type":       "m.login.password",
		"identifier": map[string]string{"type": "m.id.user", "user": localpart},
		"password":   password,
	}
	var u User
	if err := doJSON(ctx, http.MethodPost, d.URL+"/_matrix/client/v3/login", "", req, &u); err != nil {
		return nil, fmt.Errorf("harness: login %s: %w", localpart, err)
	}
	u.Password = password
	return &u, nil
}

// Do sends a client-server API request as token (may be empty) and decodes
// the JSON answer into out (may be nil). path starts with /_matrix/.
func (d *Dendrite) Do(ctx context.Context, method, path, token string, body, out any) error {
	return doJSON(ctx, method, d.URL+path, token, body, out)
}

// HTTPError is a non-2xx answer from the homeserver.
type HTTPError struct {
	Status  int
	ErrCode string
	Body    string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.ErrCode, e.Body)
}

func doJSON(ctx context.Context, method, url, token string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			ErrCode string `json:"errcode"`
		}
		_ = json.Unmarshal(data, &e)
		return &HTTPError{Status: resp.StatusCode, ErrCode: e.ErrCode, Body: string(data)}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("decode %s %s: %w", method, url, err)
		}
	}
	return nil
}

type configParams struct {
	ServerName    string
	WorkDir       string
	KeyPath       string
	SharedSecret  string
	Registrations []string
	LogLevel      string
	Federation    bool
}

// q quotes a string for YAML (JSON strings are valid YAML scalars).
func q(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

var configTemplate = template.Must(template.New("dendrite.yaml").Funcs(template.FuncMap{
	"q":    q,
	"path": func(dir, name string) string { return q(filepath.Join(dir, name)) },
	"db":   func(dir, name string) string { return q("file:" + filepath.Join(dir, name)) },
}).Parse(`# Written by e2e/harness for a throw-away loopback homeserver.
version: 2
global:
  server_name: {{q .ServerName}}
  private_key: {{q .KeyPath}}
  key_validity_period: 168h0m0s
  old_private_keys: []
  database:
    connection_string: ""
  well_known_server_name: ""
  well_known_client_name: ""
  disable_federation: {{not .Federation}}
  presence:
    enable_inbound: false
    enable_outbound: false
  trusted_third_party_id_servers: []
  jetstream:
    storage_path: {{path .WorkDir "jetstream"}}
    addresses: []
    topic_prefix: Dendrite
    in_memory: false
  metrics:
    enabled: false
  sentry:
    enabled: false
  dns_cache:
    enabled: false
  server_notices:
    enabled: false
    local_part: _server
    display_name: Server Alert
    room_name: Server Alert
  report_stats:
    enabled: false
  cache:
    max_size_estimated: 64mb
    max_age: 1h
app_service_api:
  disable_tls_validation: false
  legacy_auth: false
  legacy_paths: false
  config_files:
{{- range .Registrations}}
  - {{q .}}
{{- else}} []
{{- end}}
client_api:
  registration_disabled: true
  registration_requires_token: false
  registration_shared_secret: {{q .SharedSecret}}
  guests_disabled: true
  enable_registration_captcha: false
  rate_limiting:
    enabled: false
    threshold: 5
    cooloff_ms: 500
    exempt_user_ids: []
federation_api:
  database:
    connection_string: {{db .WorkDir "dendrite_federationapi.db"}}
  send_max_retries: 16
  disable_tls_validation: false
  key_perspectives: []
  prefer_direct_fetch: false
key_server:
  database:
    connection_string: {{db .WorkDir "dendrite_keyserver.db"}}
media_api:
  database:
    connection_string: {{db .WorkDir "dendrite_mediaapi.db"}}
  base_path: {{path .WorkDir "media"}}
  max_file_size_bytes: 10485760
  dynamic_thumbnails: false
  max_thumbnail_generators: 2
room_server:
  default_room_version: "10"
  database:
    connection_string: {{db .WorkDir "dendrite_roomserver.db"}}
sync_api:
  database:
    connection_string: {{db .WorkDir "dendrite_syncapi.db"}}
  search:
    enabled: false
    index_path: {{path .WorkDir "searchindex"}}
    in_memory: false
    language: en
user_api:
  bcrypt_cost: 4
  openid_token_lifetime_ms: 3600000
  account_database:
    connection_string: {{db .WorkDir "dendrite_userapi.db"}}
  auto_join_rooms: []
  worker_count: 2
relay_api:
  database:
    connection_string: {{db .WorkDir "dendrite_relayapi.db"}}
mscs:
  mscs: []
  database:
    connection_string: {{db .WorkDir "dendrite_mscs.db"}}
tracing:
  enabled: false
logging:
- type: std
  level: {{.LogLevel}}
`))

func renderConfig(p configParams) ([]byte, error) {
	var buf bytes.Buffer
	if err := configTemplate.Execute(&buf, p); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Registration is a minimal appservice registration, for tests that run
// Dendrite without bizbots (bizbots writes its own with `bizbots init`).
type Registration struct {
	ID              string
	URL             string // http://127.0.0.1:PORT of the appservice
	ASToken         string
	HSToken         string
	SenderLocalpart string
	UserRegex       string // exclusive users namespace, e.g. @(pizza|taxi):localhost
}

// Write writes the registration as YAML to path. Dendrite v0.13.8 needs
// every field here; namespaces must be present (users with a regex).
func (r Registration) Write(path string) error {
	y := fmt.Sprintf(`id: %s
url: %s
as_token: %s
hs_token: %s
sender_localpart: %s
rate_limited: false
namespaces:
  users:
  - exclusive: true
    regex: %s
  aliases: []
  rooms: []
`, q(r.ID), q(r.URL), q(r.ASToken), q(r.HSToken), q(r.SenderLocalpart), q(r.UserRegex))
	return os.WriteFile(path, []byte(y), 0o600)
}
