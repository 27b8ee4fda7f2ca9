// Package e2ee makes every bot a participant in end-to-end encrypted
// rooms: a device per bot (created once with appservice login, its token
// and keys kept in bizbots' database), the to-device messages that carry
// room keys (from the device's own /sync), Megolm decryption of inbox
// events for the dispatcher and encryption of outbox rows for the sender.
//
// The Olm/Megolm work is done by maunium.net/go/mautrix/crypto, built with
// its pure-Go implementation (the goolm build tag; see docs/encryption.md
// for why not libolm). Its SQL store lives in bizbots' own database next to
// the message queues, migrated by its own versioned upgrades (Upgrade), so
// a restart, a second process on the same Postgres or a move to a new host
// keeps every session.
//
// It does not route messages, decide what to answer or retry sends: the
// dispatcher and the sender call it through their small Decrypter and
// Encrypter interfaces.
package e2ee

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/lib/pq"
	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/crypto/olm"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/appservice/hsclient"
	"github.com/bizbots/bizbots/internal/backoff"
	"github.com/bizbots/bizbots/store"
)

func init() {
	// The crypto store passes arrays to Postgres through this.
	crypto.PostgresArrayWrapper = pq.Array
}

// retryPolicy spaces the retries of a device's set-up and of its sync.
var retryPolicy = backoff.Policy{Base: time.Second, Max: time.Minute}

// Driver names the Olm implementation compiled in ("goolm" or "libolm").
func Driver() string { return olm.Driver }

// Options configure the bots' devices.
type Options struct {
	// HomeserverURL and ASToken are the appservice's.
	HomeserverURL, ASToken string
	// PickleKey encrypts the Olm/Megolm state at rest in the database.
	PickleKey []byte
	// DeviceName is shown to users in their device lists.
	DeviceName string
	// ToDeviceFromTransactions: to-device messages, device list changes
	// and key counts come in appservice transactions (MSC2409/MSC3202),
	// so the bots' devices do not /sync themselves.
	ToDeviceFromTransactions bool
	// Workers bounds the connections to the homeserver.
	Workers int
	// CrossSigning is how the bots' devices get cross-signed: CrossSignAuto
	// (when empty), CrossSignMSC4190, CrossSignPassword or CrossSignOff.
	CrossSigning string
	// HomeserverAdminToken is a Dendrite admin's access token, with which
	// bizbots gives each bot the password Dendrite asks for before it takes
	// cross-signing keys. May be empty.
	HomeserverAdminToken string
}

// Crypto holds the bots' devices.
type Crypto struct {
	db    *store.DB
	dbu   *dbutil.Database
	hs    *hsclient.Client
	opts  Options
	log   zerolog.Logger
	state *stateStore

	mu      sync.RWMutex
	devices map[id.UserID]*device
	bots    []id.UserID
	rt      http.RoundTripper
	loginMu sync.Mutex
	// setupWarn logs once that cross-signing needs configuration.
	setupWarn sync.Once

	// OnRoomKey is called when a room key arrived for a room that had
	// encrypted events waiting for it (wakes the dispatcher). May be nil.
	OnRoomKey func()
}

// PickleKey derives the key that encrypts crypto state at rest from
// secret (the configured pickle_key, or else the as_token): stable as
// long as secret is.
func PickleKey(secret string) []byte {
	m := hmac.New(sha256.New, []byte("bizbots e2ee pickle key"))
	m.Write([]byte(secret))
	return m.Sum(nil)
}

// Upgrade creates or upgrades the crypto store's tables in db (they carry
// their own version table, crypto_version). `bizbots migrate` and serve
// run it after bizbots' own upgrades.
func Upgrade(ctx context.Context, db *store.DB, log zerolog.Logger) error {
	dbu, err := wrap(db, log)
	if err != nil {
		return err
	}
	return upgrade(ctx, db, dbu)
}

func wrap(db *store.DB, log zerolog.Logger) (*dbutil.Database, error) {
	dialect := "sqlite3-fk-wal"
	if db.Dialect == store.Postgres {
		dialect = "postgres"
	}
	dbu, err := dbutil.NewWithDB(db.DB, dialect)
	if err != nil {
		return nil, fmt.Errorf("crypto store: %w", err)
	}
	dbu.Log = dbutil.ZeroLogger(quiet(log.With().Str("db_section", "crypto").Logger()))
	return dbu, nil
}

func upgrade(ctx context.Context, db *store.DB, dbu *dbutil.Database) error {
	child := crypto.NewSQLCryptoStore(dbu, dbu.Log, "", "", nil)
	run := func() error {
		if err := child.DB.Upgrade(ctx); err != nil {
			return fmt.Errorf("upgrade crypto store: %w", err)
		}
		return nil
	}
	if db.Dialect != store.Postgres {
		return run()
	}
	// Several processes may start at once on one Postgres: one upgrades,
	// the others wait and then find nothing to do.
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("upgrade crypto store: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(7319042)`); err != nil {
		return fmt.Errorf("upgrade crypto store: lock: %w", err)
	}
	defer func() { _, _ = conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(7319042)`) }()
	return run()
}

// New prepares the devices of bots; Run brings them up.
func New(db *store.DB, hs *hsclient.Client, bots []id.UserID, opts Options, log zerolog.Logger) (*Crypto, error) {
	if len(opts.PickleKey) == 0 {
		return nil, fmt.Errorf("e2ee: no pickle key")
	}
	if opts.DeviceName == "" {
		opts.DeviceName = "bizbots"
	}
	dbu, err := wrap(db, log)
	if err != nil {
		return nil, err
	}
	c := &Crypto{db: db, dbu: dbu, hs: hs, opts: opts, log: log, devices: map[id.UserID]*device{}, bots: bots}
	c.state = &stateStore{db: db, hs: hs, cache: map[id.RoomID]stateEntry{}}
	return c, nil
}

// Run sets up each bot's device (retrying while the homeserver or the bot
// user is not there yet) and, unless to-device messages come in
// transactions, keeps each device's to-device sync running until ctx ends.
func (c *Crypto) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, bot := range c.bots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.runDevice(ctx, bot)
		}()
	}
	wg.Wait()
}

func (c *Crypto) runDevice(ctx context.Context, bot id.UserID) {
	log := c.log.With().Str("bot", bot.String()).Logger()
	ctx = quiet(log).WithContext(ctx)
	var dev *device
	for attempt := 0; dev == nil; attempt++ {
		d, err := c.openDevice(ctx, bot)
		if err == nil {
			dev = d
			break
		}
		if ctx.Err() != nil {
			return
		}
		wait := retryPolicy.Delay(attempt + 1)
		log.Warn().Err(err).Dur("retry_in", wait).Msg("cannot set up the bot's encryption device yet")
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
	// Cross-signed before it is used, so a client's first look at the
	// bot's keys already finds the signature.
	var retry sync.WaitGroup
	defer retry.Wait()
	c.crossSignAtStart(ctx, dev, &retry)
	c.mu.Lock()
	c.devices[bot] = dev
	c.mu.Unlock()
	log.Info().Str("device_id", dev.client.DeviceID.String()).Str("olm", Driver()).Msg("encryption device ready")
	if c.opts.ToDeviceFromTransactions {
		<-ctx.Done()
		return
	}
	c.syncLoop(ctx, dev)
}

// quiet is the logger mautrix gets through ctx: it logs every request
// with its body at debug level (keys, to-device payloads), which bizbots'
// logs must not carry, so it gets info and above only.
func quiet(log zerolog.Logger) zerolog.Logger {
	if log.GetLevel() < zerolog.InfoLevel {
		return log.Level(zerolog.InfoLevel)
	}
	return log
}

// device returns bot's device, or an error while it is not set up.
func (c *Crypto) device(bot id.UserID) (*device, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	d, ok := c.devices[bot]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotReady, bot)
	}
	return d, nil
}

// ErrNotReady means a bot's device is not set up yet (the caller retries).
var ErrNotReady = fmt.Errorf("encryption device not ready")

// WaitReady waits until every bot's device is set up or ctx ends.
func (c *Crypto) WaitReady(ctx context.Context) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		c.mu.RLock()
		n := len(c.devices)
		c.mu.RUnlock()
		if n == len(c.bots) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
