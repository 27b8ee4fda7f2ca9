package bizbotscmd

import (
	"github.com/bizbots/bizbots/appservice/hscheck"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/bizbots/bizbots/appservice/e2ee"
	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/internal/fakehs"
	"github.com/bizbots/bizbots/registration"
	"github.com/bizbots/bizbots/services/webhook"
)

// doctorOn writes a config for a homeserver at hsURL with domain, lets
// change break it, and runs doctor.
func doctorOn(t *testing.T, hsURL, domain string, change func(p paths)) result {
	t.Helper()
	p := initConfig(t, "--listen", freePort(t), "--homeserver-url", hsURL, "--domain", domain)
	if r := runCmd(t, "migrate", "--config", p.cfg); r.code != 0 {
		t.Fatalf("migrate: %s", r.stderr)
	}
	if change != nil {
		change(p)
	}
	return runCmd(t, "doctor", "--config", p.cfg, "--timeout", "3s")
}

func TestDoctorAllGood(t *testing.T) {
	hs := fakehs.New("")
	defer hs.Close()
	r := doctorOn(t, hs.URL(), "example.org", func(p paths) {
		cfg, err := config.Load(p.cfg)
		if err != nil {
			t.Fatal(err)
		}
		hs.ASToken = cfg.AppService.ASToken
	})
	if r.code != 0 || strings.Contains(r.stdout, "✗") {
		t.Fatalf("exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"✓ config:", "✓ registration matches the config", "✓ database schema: current",
		"✓ one process on SQLite", "✓ homeserver.url is a Matrix homeserver", "✓ the homeserver knows our as_token",
		"✓ homeserver.domain is the homeserver's server name", "✓ bot @pizza:example.org is registered",
		"✓ the homeserver can reach the appservice", "0 problem(s)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("missing %q in:\n%s", want, r.stdout)
		}
	}
}

// Each usual mistake gets its ✗ (or ⚠) and the fix that applies to it.
func TestDoctorFindsTheUsualMistakes(t *testing.T) {
	hs := fakehs.New("")
	defer hs.Close()
	notMatrix := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotImplemented)
	}))
	defer notMatrix.Close()
	useToken := func(p paths) {
		cfg, err := config.Load(p.cfg)
		if err != nil {
			t.Fatal(err)
		}
		hs.ASToken = cfg.AppService.ASToken
	}
	tests := []struct {
		name   string
		url    string
		domain string
		change func(p paths)
		code   int
		want   []string
	}{
		{"wrong domain", hs.URL(), "wrong.example", useToken, 1,
			[]string{`✗ homeserver.domain is the homeserver's server name: homeserver.domain is "wrong.example" but the homeserver's users are @…:example.org`,
				`fix: set homeserver.domain: "example.org"`}},
		{"not a homeserver", notMatrix.URL, "example.org", nil, 1,
			[]string{"✗ homeserver.url is a Matrix homeserver", "answered HTTP 501", "fix: set homeserver.url"}},
		{"stale as_token", hs.URL(), "example.org", func(p paths) { hs.ASToken = "an-older-token" }, 1,
			[]string{"✗ the homeserver knows our as_token", "M_UNKNOWN_TOKEN", "restart the homeserver"}},
		{"registration does not match", hs.URL(), "example.org", func(p paths) {
			useToken(p)
			reg, err := registration.Load(p.reg)
			if err != nil {
				t.Fatal(err)
			}
			reg.HSToken = strings.Repeat("f", 64)
			if err := reg.Write(p.reg, true); err != nil {
				t.Fatal(err)
			}
		}, 1, []string{"✗ registration matches the config", "hs_token differs", "fix: bizbots generate-registration --force --config"}},
		{"config readable by others", hs.URL(), "example.org", func(p paths) {
			useToken(p)
			if err := os.Chmod(p.cfg, 0o644); err != nil {
				t.Fatal(err)
			}
		}, 0, []string{"⚠ config file permissions", "fix: chmod 600"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := doctorOn(t, tt.url, tt.domain, tt.change)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d", r.code, tt.code)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("missing %q in:\n%s", w, r.stdout)
				}
			}
			if tt.code == 1 && !strings.Contains(r.stderr, "some checks failed") {
				t.Errorf("stderr %q", r.stderr)
			}
		})
	}
}

func TestDoctorWithoutConfig(t *testing.T) {
	r := runCmd(t, "doctor", "--config", t.TempDir()+"/none.yaml")
	if r.code != 1 || !strings.Contains(r.stdout, "✗ config: config file") || !strings.Contains(r.stdout, "fix: bizbots init") {
		t.Errorf("exit %d:\n%s", r.code, r.stdout)
	}
}

// With encryption on, doctor checks what encrypted rooms need.
func TestDoctorEncryption(t *testing.T) {
	hs := fakehs.New("")
	defer hs.Close()
	r := doctorOn(t, hs.URL(), "example.org", func(p paths) {
		cfg, err := config.Load(p.cfg)
		if err != nil {
			t.Fatal(err)
		}
		hs.ASToken = cfg.AppService.ASToken
		editConfig(t, p.cfg, "encryption:\n  # Every bot gets a device and takes part in encrypted rooms.\n  allow: false", "encryption:\n  # Every bot gets a device and takes part in encrypted rooms.\n  allow: true")
	})
	olm := "✓ Olm implementation: goolm" // make test builds with -tags goolm
	if e2ee.Driver() != "goolm" {
		olm = "⚠ Olm implementation: " + e2ee.Driver()
	}
	for _, want := range []string{olm, "⚠ encryption.pickle_key: not set",
		"✓ the homeserver gives bots devices (appservice login)", "⚠ bot devices: some bots have no device yet"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("missing %q in:\n%s", want, r.stdout)
		}
	}
	noLogin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/_matrix/client/versions":
			_, _ = w.Write([]byte(`{"versions":["v1.1"]}`))
		case "/_matrix/client/v3/login":
			_, _ = w.Write([]byte(`{"flows":[{"type":"m.login.password"}]}`))
		default:
			_, _ = w.Write([]byte(`{"user_id":"@bizbots:example.org"}`))
		}
	}))
	defer noLogin.Close()
	r = doctorOn(t, noLogin.URL, "example.org", func(p paths) {
		editConfig(t, p.cfg, "encryption:\n  # Every bot gets a device and takes part in encrypted rooms.\n  allow: false", "encryption:\n  # Every bot gets a device and takes part in encrypted rooms.\n  allow: true")
	})
	if r.code != 1 || !strings.Contains(r.stdout, "✗ the homeserver gives bots devices (appservice login): GET /_matrix/client/v3/login does not offer m.login.application_service") {
		t.Errorf("exit %d:\n%s", r.code, r.stdout)
	}
}

func editConfig(t *testing.T, path, old, new string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		t.Fatalf("%s has no %q", path, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(data), old, new, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Each webhook bot's server gets a signed test event; one that does not
// answer is a ✗ with the fix.
func TestDoctorWebhooks(t *testing.T) {
	hs := fakehs.New("")
	defer hs.Close()
	business := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"replies":[]}`))
	}))
	defer business.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	secret, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	bots := func(url string) string {
		return "bots:\n  - localpart: shop_up\n    service: webhook\n    config:\n      url: " + business.URL + "\n      secret: " + secret +
			"\n  - localpart: shop_down\n    service: webhook\n    config:\n      url: " + url + "\n      secret: " + secret + "\n"
	}
	r := doctorOn(t, hs.URL(), "example.org", func(p paths) {
		cfg, err := config.Load(p.cfg)
		if err != nil {
			t.Fatal(err)
		}
		hs.ASToken = cfg.AppService.ASToken
		editConfig(t, p.cfg, "bots:\n", bots(downURL))
		// The registration must cover the new bots.
		if r := runCmd(t, "generate-registration", "--force", "--config", p.cfg); r.code != 0 {
			t.Fatalf("generate-registration: %s", r.stderr)
		}
	})
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	for _, want := range []string{"✓ webhook of @shop_up:example.org: " + business.URL + " answered HTTP 200",
		"✗ webhook of @shop_down:example.org: " + downURL + " does not answer", "fix: start the business's server"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("missing %q in:\n%s", want, r.stdout)
		}
	}
}

// A Postgres without autovacuum is a warning with the fix; with it, fine.
func TestAutovacuumFinding(t *testing.T) {
	if f := autovacuumFinding(false); f.Level != hscheck.OK {
		t.Fatalf("autovacuum on: %+v", f)
	}
	f := autovacuumFinding(true)
	if f.Level != hscheck.Warn || !strings.Contains(f.Fix, "autovacuum = on") || !strings.Contains(f.Detail, "dead row") {
		t.Fatalf("autovacuum off: %+v", f)
	}
}
