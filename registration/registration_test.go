package registration_test

import (
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/registration"
)

const (
	asToken = "as0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
	hsToken = "hs0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
)

func testConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(`homeserver: {url: "http://localhost:8008", domain: example.org}
appservice:
  id: shopbots
  url: http://bizbots.internal:29330
  sender_localpart: shopbot
  as_token: `+asToken+`
  hs_token: `+hsToken+`
bots:
  - localpart: pizza
  - localpart: taxi.city
`), "config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestFromConfig(t *testing.T) {
	cfg := testConfig(t)
	r := registration.FromConfig(cfg)
	want := &registration.Registration{
		ID: "shopbots", URL: "http://bizbots.internal:29330", ASToken: asToken, HSToken: hsToken,
		SenderLocalpart: "shopbot", RateLimited: false,
		Namespaces: registration.Namespaces{
			Users:   []registration.Namespace{{Exclusive: true, Regex: cfg.UserNamespace()}},
			Aliases: []registration.Namespace{},
			Rooms:   []registration.Namespace{},
		},
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("FromConfig:\n got %+v\nwant %+v", r, want)
	}
	if err := registration.Check(r, cfg); err != nil {
		t.Errorf("a registration made from the config does not pass Check: %v", err)
	}
}

func TestWriteLoadRoundTrip(t *testing.T) {
	cfg := testConfig(t)
	path := filepath.Join(t.TempDir(), "registration.yaml")
	r := registration.FromConfig(cfg)
	if err := r.Write(path, false); err != nil {
		t.Fatalf("Write: %v", err)
	}
	got, err := registration.Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Errorf("round trip:\n wrote %+v\nloaded %+v", r, got)
	}
	if err := registration.Check(got, cfg); err != nil {
		t.Errorf("loaded registration fails Check: %v", err)
	}
	assertMode(t, path, 0o600)
}

func TestMarshalWritesEveryRequiredField(t *testing.T) {
	r := registration.FromConfig(testConfig(t))
	data, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), "# ") {
		t.Errorf("no header comment:\n%s", data)
	}
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		t.Fatalf("output is not YAML: %v\n%s", err, data)
	}
	for k, want := range map[string]any{
		"id": "shopbots", "url": "http://bizbots.internal:29330", "as_token": asToken, "hs_token": hsToken,
		"sender_localpart": "shopbot", "rate_limited": false,
	} {
		v, ok := raw[k]
		if !ok {
			t.Errorf("field %s missing from:\n%s", k, data)
		} else if v != want {
			t.Errorf("field %s = %#v, want %#v", k, v, want)
		}
	}
	ns, ok := raw["namespaces"].(map[string]any)
	if !ok {
		t.Fatalf("namespaces is %#v, want a mapping", raw["namespaces"])
	}
	for _, k := range []string{"aliases", "rooms"} {
		list, ok := ns[k].([]any)
		if !ok {
			t.Errorf("namespaces.%s = %#v, want an empty list (Dendrite needs it present)", k, ns[k])
		} else if len(list) != 0 {
			t.Errorf("namespaces.%s = %v, want empty", k, list)
		}
	}
	users, ok := ns["users"].([]any)
	if !ok || len(users) != 1 {
		t.Fatalf("namespaces.users = %#v, want one entry", ns["users"])
	}
	u, _ := users[0].(map[string]any)
	if u["exclusive"] != true || u["regex"] != r.Namespaces.Users[0].Regex {
		t.Errorf("namespaces.users[0] = %#v", users[0])
	}
}

func TestMarshalEmptyNamespacesStillWritten(t *testing.T) {
	// Even a registration whose lists are nil writes all three keys.
	r := &registration.Registration{ID: "x", URL: "http://x", ASToken: "a", HSToken: "h", SenderLocalpart: "s"}
	data, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Namespaces map[string]any `yaml:"namespaces"`
	}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"users", "aliases", "rooms"} {
		if _, ok := raw.Namespaces[k]; !ok {
			t.Errorf("namespaces.%s missing:\n%s", k, data)
		}
	}
}

func TestWriteRefusesToOverwrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registration.yaml")
	writeWorldReadable(t, path, "precious\n")
	err := registration.FromConfig(testConfig(t)).Write(path, false)
	if !errors.Is(err, registration.ErrExists) {
		t.Fatalf("Write without force: %v, want ErrExists", err)
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "--force") {
		t.Errorf("error should name the file and --force: %v", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "precious\n" {
		t.Errorf("file changed to %q", data)
	}
	assertMode(t, path, 0o644)
}

func TestWriteForceReplacesAndTightensMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registration.yaml")
	// Longer than the new content: force must truncate, not overlay.
	writeWorldReadable(t, path, strings.Repeat("old junk line\n", 500))
	r := registration.FromConfig(testConfig(t))
	if err := r.Write(path, true); err != nil {
		t.Fatalf("Write with force: %v", err)
	}
	assertMode(t, path, 0o600)
	got, err := registration.Load(path)
	if err != nil {
		t.Fatalf("Load after forced write: %v", err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Errorf("loaded %+v, want %+v", got, r)
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), "old junk") {
		t.Errorf("old content survived the forced write")
	}
}

func TestWriteFileSecretNewFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret")
	if err := registration.WriteFileSecret(path, []byte("s3cret"), false); err != nil {
		t.Fatal(err)
	}
	assertMode(t, path, 0o600)
	if data, _ := os.ReadFile(path); string(data) != "s3cret" {
		t.Errorf("content %q", data)
	}
	// A missing directory is an error, not ErrExists.
	err := registration.WriteFileSecret(filepath.Join(t.TempDir(), "no", "such", "dir"), []byte("x"), true)
	if err == nil || errors.Is(err, registration.ErrExists) {
		t.Errorf("missing directory: %v", err)
	}
}

func TestLoadMissingFields(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"no namespaces", "id: a\nurl: http://x\nas_token: a\nhs_token: h\nsender_localpart: s\n",
			"missing required field(s): namespaces"},
		{"several", "url: http://x\nas_token: a\nnamespaces: {users: []}\n",
			"missing required field(s): id, hs_token, sender_localpart"},
		{"empty mapping", "{}\n",
			"missing required field(s): id, url, as_token, hs_token, sender_localpart, namespaces"},
		{"not a mapping", "[1, 2]\n", "reg.yaml: "},
		{"not YAML", "id: [unclosed\n", "reg.yaml: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "reg.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			r, err := registration.Load(path)
			if err == nil {
				t.Fatalf("Load accepted it: %+v", r)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q: want it to name %s and contain %q", err, path, tt.want)
			}
		})
	}
}

func TestLoadAcceptsMinimalAndExtraFields(t *testing.T) {
	// A hand-written file with the required fields only, or with optional
	// fields bizbots does not use, loads.
	path := filepath.Join(t.TempDir(), "reg.yaml")
	data := `id: shopbots
url: http://bizbots.internal:29330
as_token: ` + asToken + `
hs_token: ` + hsToken + `
sender_localpart: shopbot
namespaces:
  users:
    - exclusive: true
      regex: '@.*:example\.org'
protocols: [irc]
`
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := registration.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != "shopbots" || r.ASToken != asToken || len(r.Namespaces.Users) != 1 || r.Namespaces.Users[0].Regex != `@.*:example\.org` {
		t.Errorf("loaded %+v", r)
	}
	if err := registration.Check(r, testConfig(t)); err != nil {
		t.Errorf("a broad exclusive namespace should pass Check: %v", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := registration.Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "read registration") {
		t.Errorf("missing file: %v", err)
	}
}

func TestCheckMismatches(t *testing.T) {
	tests := []struct {
		name   string
		change func(r *registration.Registration)
		want   []string
	}{
		{"id", func(r *registration.Registration) { r.ID = "other" },
			[]string{`id is "other", config says "shopbots"`}},
		{"url", func(r *registration.Registration) { r.URL = "http://old:1" },
			[]string{`url is "http://old:1", config says "http://bizbots.internal:29330"`}},
		{"as_token", func(r *registration.Registration) { r.ASToken = strings.Repeat("0", 64) },
			[]string{"as_token differs from appservice.as_token in the config"}},
		{"hs_token", func(r *registration.Registration) { r.HSToken = strings.Repeat("0", 64) },
			[]string{"hs_token differs from appservice.hs_token in the config"}},
		{"sender_localpart", func(r *registration.Registration) { r.SenderLocalpart = "bot" },
			[]string{`sender_localpart is "bot", config says "shopbot"`}},
		{"bot not covered", func(r *registration.Registration) {
			r.Namespaces.Users = []registration.Namespace{{Exclusive: true, Regex: `@(?:shopbot|pizza):example\.org`}}
		}, []string{"bot @taxi.city:example.org is not in an exclusive namespaces.users entry"}},
		{"namespace not exclusive", func(r *registration.Registration) { r.Namespaces.Users[0].Exclusive = false },
			[]string{"bot @pizza:example.org is not in an exclusive", "bot @taxi.city:example.org is not in an exclusive"}},
		{"no user namespaces", func(r *registration.Registration) { r.Namespaces.Users = nil },
			[]string{"bot @pizza:example.org is not in an exclusive", "bot @taxi.city:example.org is not in an exclusive"}},
		{"namespace for another domain", func(r *registration.Registration) {
			r.Namespaces.Users = []registration.Namespace{{Exclusive: true, Regex: `@.*:example\.com`}}
		}, []string{"bot @pizza:example.org is not in an exclusive", "bot @taxi.city:example.org is not in an exclusive"}},
		{"namespace regex is anchored", func(r *registration.Registration) {
			// Matches a substring of @taxi.city:example.org only.
			r.Namespaces.Users = append(r.Namespaces.Users, registration.Namespace{Exclusive: true, Regex: `taxi`})
			r.Namespaces.Users[0].Regex = `@pizza:example\.org`
		}, []string{"bot @taxi.city:example.org is not in an exclusive"}},
		{"regex does not compile", func(r *registration.Registration) {
			r.Namespaces.Users = append(r.Namespaces.Users, registration.Namespace{Exclusive: true, Regex: `@shop_(.*`})
		}, []string{"namespaces.users regex \"@shop_(.*\" does not compile"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			r := registration.FromConfig(cfg)
			tt.change(r)
			err := registration.Check(r, cfg)
			if err == nil {
				t.Fatal("Check accepted a mismatching registration")
			}
			msg := err.Error()
			if !strings.Contains(msg, "regenerate it with `bizbots generate-registration --force") {
				t.Errorf("error does not say how to fix it: %v", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error:\n%s\nwant it to contain %q", msg, w)
				}
			}
			// Exactly the expected problems, no more.
			if got := strings.Count(msg, "\n  - "); got != len(tt.want) {
				t.Errorf("want %d problem(s), got %d:\n%s", len(tt.want), got, msg)
			}
			if strings.Contains(msg, asToken) || strings.Contains(msg, hsToken) {
				t.Errorf("a token leaked into the error: %s", msg)
			}
		})
	}
}

func TestCheckReportsAllMismatchesAtOnce(t *testing.T) {
	cfg := testConfig(t)
	r := registration.FromConfig(cfg)
	r.ID, r.HSToken, r.Namespaces.Users = "x", "y", nil
	err := registration.Check(r, cfg)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, w := range []string{`id is "x"`, "hs_token differs", "bot @pizza:example.org", "bot @taxi.city:example.org"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in:\n%v", w, err)
		}
	}
}

func TestCheckWithBotNamespace(t *testing.T) {
	cfg := testConfig(t)
	cfg.AppService.BotNamespace = `@(?:shopbot|pizza|taxi\..*):example\.org`
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	r := registration.FromConfig(cfg)
	if r.Namespaces.Users[0].Regex != cfg.AppService.BotNamespace {
		t.Errorf("the bot_namespace should be the registration's user regex, got %q", r.Namespaces.Users[0].Regex)
	}
	if err := registration.Check(r, cfg); err != nil {
		t.Errorf("Check: %v", err)
	}
	// A bot added later outside the registered namespace is caught.
	cfg.Bots = append(cfg.Bots, config.Bot{Localpart: "support"})
	if err := registration.Check(r, cfg); err == nil || !strings.Contains(err.Error(), "bot @support:example.org is not in an exclusive") {
		t.Errorf("new bot outside the namespace: %v", err)
	}
}

func TestNewToken(t *testing.T) {
	seen := map[string]bool{}
	for range 20 {
		tok, err := registration.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if len(tok) != 64 {
			t.Fatalf("token %q has %d characters, want 64", tok, len(tok))
		}
		if _, err := hex.DecodeString(tok); err != nil || strings.ToLower(tok) != tok {
			t.Fatalf("token %q is not lowercase hex", tok)
		}
		if seen[tok] {
			t.Fatalf("token %q returned twice", tok)
		}
		seen[tok] = true
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != want {
		t.Errorf("%s has mode %#o, want %#o", path, got, want)
	}
}

// writeWorldReadable makes a 0644 file whatever the umask.
func writeWorldReadable(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
}
