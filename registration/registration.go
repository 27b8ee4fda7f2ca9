// Package registration makes, loads and checks the appservice registration
// file a homeserver admin adds to Synapse, Dendrite or Conduit.
//
// It generates crypto-random tokens, always writes every field the spec
// requires (Dendrite refuses a file without `namespaces`, even empty), and
// checks a loaded file against the running config so a stale registration
// is caught at start instead of as a silent 403 from the homeserver.
package registration

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/bizbots/bizbots/config"
)

// Registration is the appservice registration file (spec: application-service
// API, "Registration").
type Registration struct {
	ID              string     `yaml:"id"`
	URL             string     `yaml:"url"`
	ASToken         string     `yaml:"as_token"`
	HSToken         string     `yaml:"hs_token"`
	SenderLocalpart string     `yaml:"sender_localpart"`
	RateLimited     bool       `yaml:"rate_limited"`
	Namespaces      Namespaces `yaml:"namespaces"`
	// ReceiveEphemeral is left false: bizbots does not use typing or
	// receipts from the homeserver, so it does not ask for them.
	ReceiveEphemeral bool `yaml:"receive_ephemeral"`
	// With encryption.appservice the homeserver is asked to put to-device
	// messages (MSC2409) and device lists and key counts (MSC3202) into
	// transactions; Synapse also needs its experimental features on
	// (docs/encryption.md).
	MSC2409PushEphemeral bool `yaml:"de.sorunome.msc2409.push_ephemeral,omitempty"`
	MSC3202              bool `yaml:"org.matrix.msc3202,omitempty"`
}

// Namespaces lists what the appservice is interested in. Every list is
// always written, even when empty.
type Namespaces struct {
	Users   []Namespace `yaml:"users"`
	Aliases []Namespace `yaml:"aliases"`
	Rooms   []Namespace `yaml:"rooms"`
}

// Namespace is one regex the appservice claims.
type Namespace struct {
	Exclusive bool   `yaml:"exclusive"`
	Regex     string `yaml:"regex"`
}

// NewToken returns 32 crypto-random bytes as 64 hex characters.
func NewToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// FromConfig builds the registration that matches cfg.
func FromConfig(cfg *config.Config) *Registration {
	return &Registration{
		ID:              cfg.AppService.ID,
		URL:             cfg.AppService.URL,
		ASToken:         cfg.AppService.ASToken,
		HSToken:         cfg.AppService.HSToken,
		SenderLocalpart: cfg.AppService.SenderLocalpart,
		RateLimited:     false,
		Namespaces: Namespaces{
			Users:   []Namespace{{Exclusive: true, Regex: cfg.UserNamespace()}},
			Aliases: []Namespace{},
			Rooms:   []Namespace{},
		},
		MSC2409PushEphemeral: cfg.Encryption.Allow && cfg.Encryption.Appservice,
		MSC3202:              cfg.Encryption.Allow && cfg.Encryption.Appservice,
	}
}

// Marshal renders the registration as YAML with a short header.
func (r *Registration) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("# bizbots appservice registration. Add this file to your homeserver's\n" +
		"# appservice config (see docs/admin.md). It holds secrets: keep it 0600.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(r); err != nil {
		return nil, fmt.Errorf("encode registration: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Write saves the registration to path with mode 0600. It refuses to replace
// an existing file unless force is set.
func (r *Registration) Write(path string, force bool) error {
	data, err := r.Marshal()
	if err != nil {
		return err
	}
	return WriteFileSecret(path, data, force)
}

// ErrExists is returned when a file would be overwritten without force.
var ErrExists = errors.New("file exists")

// WriteFileSecret writes data to path readable by the owner only. Without
// force an existing file is left untouched and ErrExists is returned.
func WriteFileSecret(path string, data []byte, force bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s: %w (use --force to overwrite)", path, ErrExists)
		}
		return err
	}
	// An existing file keeps its mode on O_TRUNC; tighten it explicitly.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Load reads and parses a registration file and checks its required fields.
func Load(path string) (*Registration, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read registration: %w", err)
	}
	var r Registration
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	var raw map[string]any
	_ = yaml.Unmarshal(data, &raw)
	var missing []string
	for _, k := range []string{"id", "url", "as_token", "hs_token", "sender_localpart", "namespaces"} {
		if _, ok := raw[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s: missing required field(s): %s", path, strings.Join(missing, ", "))
	}
	return &r, nil
}

// Check compares a loaded registration with the config it must serve and
// returns every mismatch: ids and tokens must be equal, and an exclusive
// user namespace must cover every configured bot (the sender needs none:
// homeservers grant an appservice its sender_localpart).
func Check(r *Registration, cfg *config.Config) error {
	var probs []string
	if r.ID != cfg.AppService.ID {
		probs = append(probs, fmt.Sprintf("id is %q, config says %q", r.ID, cfg.AppService.ID))
	}
	if r.URL != cfg.AppService.URL {
		probs = append(probs, fmt.Sprintf("url is %q, config says %q", r.URL, cfg.AppService.URL))
	}
	if r.ASToken != cfg.AppService.ASToken {
		probs = append(probs, "as_token differs from appservice.as_token in the config")
	}
	if r.HSToken != cfg.AppService.HSToken {
		probs = append(probs, "hs_token differs from appservice.hs_token in the config")
	}
	if r.SenderLocalpart != cfg.AppService.SenderLocalpart {
		probs = append(probs, fmt.Sprintf("sender_localpart is %q, config says %q", r.SenderLocalpart, cfg.AppService.SenderLocalpart))
	}
	var res []*regexp.Regexp
	for _, ns := range r.Namespaces.Users {
		re, err := regexp.Compile("^(?:" + ns.Regex + ")$")
		if err != nil {
			probs = append(probs, fmt.Sprintf("namespaces.users regex %q does not compile: %v", ns.Regex, err))
			continue
		}
		if ns.Exclusive {
			res = append(res, re)
		}
	}
	for _, b := range cfg.Bots {
		uid := string(cfg.UserID(b.Localpart))
		covered := false
		for _, re := range res {
			if re.MatchString(uid) {
				covered = true
				break
			}
		}
		if !covered {
			probs = append(probs, fmt.Sprintf("bot %s is not in an exclusive namespaces.users entry", uid))
		}
	}
	if len(probs) > 0 {
		// The file exists, so the command that rewrites it needs --force.
		cmd := "bizbots generate-registration --force"
		if cfg.Path != "" {
			cmd += " --config " + cfg.Path
		}
		return fmt.Errorf("registration does not match the config (regenerate it with `%s`, then give the new file to your homeserver and restart it):\n  - %s",
			cmd, strings.Join(probs, "\n  - "))
	}
	return nil
}
