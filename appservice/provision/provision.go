// Package provision makes bizbots' bot users exist on the homeserver the
// way the config describes them: registered (m.login.application_service),
// with their display names and avatars. It also checks, at start, that the
// homeserver can reach the appservice (the spec's ping). It does not touch
// rooms: joining on invite is the dispatcher's job.
package provision

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/appservice/hsclient"
	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/store"
)

// Provisioner registers and configures bot users.
type Provisioner struct {
	cfg *config.Config
	hs  *hsclient.Client
	db  *store.DB
	log zerolog.Logger

	mu         sync.Mutex
	registered map[id.UserID]bool
	// lost holds users the homeserver said it does not know although we
	// registered them once (its database was reset): registered again.
	lost map[id.UserID]bool
	// added are bots added at run time (not in cfg).
	added map[id.UserID]bool
}

// New returns a Provisioner for the bots in cfg.
func New(cfg *config.Config, hs *hsclient.Client, db *store.DB, log zerolog.Logger) *Provisioner {
	return &Provisioner{cfg: cfg, hs: hs, db: db, log: log, registered: map[id.UserID]bool{}, lost: map[id.UserID]bool{}}
}

// IsBot says whether uid is one of the configured bots or the sender.
func (p *Provisioner) IsBot(uid id.UserID) bool {
	if uid == p.cfg.SenderID() {
		return true
	}
	if _, ok := p.cfg.BotByUserID(uid); ok {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.added[uid]
}

// AddBot registers a bot added at run time and sets its profile; from
// then on IsBot knows it.
func (p *Provisioner) AddBot(ctx context.Context, b config.Bot) error {
	uid := p.cfg.UserID(b.Localpart)
	p.mu.Lock()
	if p.added == nil {
		p.added = map[id.UserID]bool{}
	}
	p.added[uid] = true
	p.mu.Unlock()
	if err := p.EnsureUser(ctx, uid); err != nil {
		return err
	}
	return p.setProfile(ctx, uid, b)
}

// RemoveBot forgets a bot added at run time. Its Matrix user stays (user
// ids are never reused); it just stops answering.
func (p *Provisioner) RemoveBot(uid id.UserID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.added, uid)
}

// EnsureUser registers uid on the homeserver unless it is known to exist.
// The dispatcher calls it before acting as a bot, so a bot is registered
// on demand when its events come before provisioning got to it (the
// homeserver delivers queued transactions as soon as bizbots answers) or
// when it was added to the config since.
func (p *Provisioner) EnsureUser(ctx context.Context, uid id.UserID) error {
	p.mu.Lock()
	done, lost := p.registered[uid], p.lost[uid]
	p.mu.Unlock()
	if done {
		return nil
	}
	_, registered, err := p.db.BotProfileHash(ctx, uid.String())
	if err != nil {
		return err
	}
	if !registered || lost {
		if err := p.register(ctx, uid); err != nil {
			return err
		}
		if err := p.db.SaveBot(ctx, uid.String(), ""); err != nil {
			return err
		}
	}
	p.mu.Lock()
	p.registered[uid] = true
	delete(p.lost, uid)
	p.mu.Unlock()
	return nil
}

// Unregistered records that the homeserver refused to let bizbots act as
// uid because it is not registered there: the next EnsureUser registers it
// again, whatever bizbots' own records say.
func (p *Provisioner) Unregistered(uid id.UserID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.registered, uid)
	p.lost[uid] = true
	p.log.Warn().Str("user_id", uid.String()).Msg("the homeserver does not know this bot user; registering it again")
}

func (p *Provisioner) register(ctx context.Context, uid id.UserID) error {
	_, _, err := p.hs.AsAppservice().Register(ctx, &mautrix.ReqRegister[any]{
		Username:     uid.Localpart(),
		Type:         mautrix.AuthTypeAppservice,
		InhibitLogin: true,
	})
	if err == nil || errors.Is(err, mautrix.MUserInUse) {
		p.log.Debug().Str("user_id", uid.String()).Bool("existed", err != nil).Msg("bot user registered")
		return nil
	}
	v := hsclient.Classify(err)
	return fmt.Errorf("register %s: %s", uid, v.Reason)
}

// All registers every bot and the sender and sets each bot's profile when
// it changed since the last start.
func (p *Provisioner) All(ctx context.Context) error {
	if err := p.EnsureUser(ctx, p.cfg.SenderID()); err != nil {
		return err
	}
	for _, b := range p.cfg.Bots {
		uid := p.cfg.UserID(b.Localpart)
		if err := p.EnsureUser(ctx, uid); err != nil {
			return err
		}
		if err := p.setProfile(ctx, uid, b); err != nil {
			return err
		}
	}
	return nil
}

func (p *Provisioner) setProfile(ctx context.Context, uid id.UserID, b config.Bot) error {
	sum := sha256.Sum256([]byte(b.DisplayName + "\x00" + b.Avatar))
	hash := hex.EncodeToString(sum[:8])
	old, _, err := p.db.BotProfileHash(ctx, uid.String())
	if err != nil {
		return err
	}
	if old == hash {
		return nil
	}
	cli := p.hs.As(uid)
	if b.DisplayName != "" {
		if err := cli.SetDisplayName(ctx, b.DisplayName); err != nil {
			return fmt.Errorf("set display name of %s: %s", uid, hsclient.Classify(err).Reason)
		}
	}
	if b.Avatar != "" {
		mxc, err := p.avatarURI(ctx, cli, b.Avatar)
		if err != nil {
			return fmt.Errorf("avatar of %s: %w", uid, err)
		}
		if err := cli.SetAvatarURL(ctx, mxc); err != nil {
			return fmt.Errorf("set avatar of %s: %s", uid, hsclient.Classify(err).Reason)
		}
	}
	p.log.Info().Str("user_id", uid.String()).Str("display_name", b.DisplayName).Msg("bot profile set")
	return p.db.SaveBot(ctx, uid.String(), hash)
}

// maxAvatarBytes bounds an avatar fetched from an http(s) URL.
const maxAvatarBytes = 5 << 20

func (p *Provisioner) avatarURI(ctx context.Context, cli *mautrix.Client, avatar string) (id.ContentURI, error) {
	if strings.HasPrefix(avatar, "mxc://") {
		return id.ParseContentURI(avatar)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, avatar, nil)
	if err != nil {
		return id.ContentURI{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return id.ContentURI{}, fmt.Errorf("download %s: %w", avatar, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return id.ContentURI{}, fmt.Errorf("download %s: HTTP %d", avatar, resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAvatarBytes+1))
	if err != nil {
		return id.ContentURI{}, fmt.Errorf("download %s: %w", avatar, err)
	}
	if len(data) > maxAvatarBytes {
		return id.ContentURI{}, fmt.Errorf("%s is larger than %d bytes", avatar, maxAvatarBytes)
	}
	up, err := cli.UploadBytes(ctx, data, resp.Header.Get("Content-Type"))
	if err != nil {
		return id.ContentURI{}, fmt.Errorf("upload avatar: %s", hsclient.Classify(err).Reason)
	}
	return up.ContentURI, nil
}

// Ping asks the homeserver to ping this appservice and logs what that
// says about connectivity. It never fails start-up: older homeservers
// (Dendrite, Synapse before 1.84) do not implement it.
func (p *Provisioner) Ping(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	txn := fmt.Sprintf("bizbots-start-%d", time.Now().UnixMilli())
	resp, err := p.hs.AsAppservice().AppservicePing(ctx, p.cfg.AppService.ID, txn)
	if err == nil {
		p.log.Info().Int64("duration_ms", resp.DurationMS).Msg("homeserver reached the appservice (ping ok)")
		return
	}
	v := hsclient.Classify(err)
	switch v.Errcode {
	case "M_UNRECOGNIZED", "":
		if v.Status == http.StatusNotFound || v.Status == http.StatusMethodNotAllowed || v.Errcode == "M_UNRECOGNIZED" {
			p.log.Info().Msg("homeserver does not support the appservice ping; cannot check that it reaches us")
			return
		}
		p.log.Warn().Str("reason", v.Reason).Msg("appservice ping failed")
	case "M_URL_NOT_SET":
		p.log.Error().Msg("the homeserver has no url for this appservice: check `url` in the registration file")
	case "M_CONNECTION_FAILED", "M_CONNECTION_TIMEOUT":
		p.log.Error().Str("reason", v.Reason).Str("url", p.cfg.AppService.URL).
			Msg("the homeserver CANNOT reach the appservice: check appservice.url/listen and firewalls; no messages will arrive")
	case "M_BAD_STATUS":
		p.log.Error().Str("reason", v.Reason).Msg("the homeserver reached the appservice but got an error: are the hs_tokens the same in config and registration?")
	case "M_FORBIDDEN":
		p.log.Error().Str("reason", v.Reason).Msg("the homeserver refused the ping: is the registration file loaded and is as_token right?")
	default:
		p.log.Warn().Str("reason", v.Reason).Msg("appservice ping failed")
	}
}
