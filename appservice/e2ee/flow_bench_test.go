package e2ee

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/appservice"
	"github.com/bizbots/bizbots/appservice/dispatcher"
	"github.com/bizbots/bizbots/appservice/hsclient"
	"github.com/bizbots/bizbots/appservice/sender"
	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/internal/benchreport"
	"github.com/bizbots/bizbots/internal/fakehs"
	"github.com/bizbots/bizbots/services/echo"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// BenchmarkEncryptedFlow measures replies per second through the whole
// flow (intake → dispatcher → echo → outbox → sender → fake homeserver,
// over loopback HTTP, 8+8 workers as `bizbots init` sets), in plaintext
// rooms and in encrypted rooms, where every customer message is Megolm
// ciphertext the dispatcher decrypts (checking its message index in the
// crypto store) and every reply is encrypted once by the sender and kept
// in its outbox row: real goolm/libolm work on the real crypto store. The
// one thing left out is key sharing (the rooms' keys are in place, as
// after the first message of a conversation). One op is a 100-event
// transaction: 4 messages in each of 25 rooms.
func BenchmarkEncryptedFlow(b *testing.B) {
	for _, d := range storetest.Dialects {
		for _, encrypted := range []bool{false, true} {
			name := string(d) + "/plain"
			if encrypted {
				name = string(d) + "/encrypted"
			}
			b.Run(name, func(b *testing.B) {
				f := startEncFlow(b, storetest.New(b, d), encrypted)
				const perTxn = 100
				txns := make([][]map[string]any, b.N)
				for i := range txns {
					for j := 0; j < perTxn; j++ {
						r := j % encBenchRooms
						txns[i] = append(txns[i], f.message(b, r, fmt.Sprintf("m%d.%d", i, j)))
					}
				}
				b.ResetTimer()
				start, cpu0 := time.Now(), cpuTime()
				for i := 0; i < b.N; i++ {
					status, err := fakehs.Push(context.Background(), f.asURL, encBenchHS, fmt.Sprintf("load-%d", i), txns[i])
					if err != nil || status != 200 {
						b.Fatalf("push: %d %v", status, err)
					}
					want := encBenchRooms + (i+1)*perTxn
					if !f.hs.WaitFor(2*time.Minute, func() bool { return f.hs.SendCount() >= want }) {
						b.Fatalf("%d replies, want %d", len(f.hs.Sends()), want)
					}
				}
				elapsed, cpu := time.Since(start), cpuTime()-cpu0
				b.StopTimer()
				benchreport.Throughput(b, b.N*perTxn, elapsed)
				// CPU time of this process (intake, dispatcher, sender, crypto,
				// fake homeserver; not the Postgres server) per reply: what
				// encryption costs when CPU is the limit, and steadier than
				// throughput on a shared machine.
				b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N*perTxn), "cpu-ms/reply")
				if encrypted {
					for _, s := range f.hs.Sends() {
						if s.Type != "m.room.encrypted" {
							b.Fatalf("a %s went out in an encrypted room", s.Type)
						}
					}
				}
			})
		}
	}
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

const (
	encBenchAS    = "bench_as_token_0123456789abcdef0123456789abcdef"
	encBenchHS    = "bench_hs_token_0123456789abcdef0123456789abcdef"
	encBenchBot   = id.UserID("@pizza:example.org")
	encBenchRooms = 25
)

type encFlow struct {
	asURL     string
	hs        *fakehs.HS
	encrypted bool
	// customers' outbound Megolm sessions, one per room
	mu       sync.Mutex
	outbound []*crypto.OutboundGroupSession
}

func encRoom(r int) id.RoomID  { return id.RoomID(fmt.Sprintf("!bench%d:example.org", r)) }
func encCustomer(r int) string { return fmt.Sprintf("@customer%d:example.org", r) }

// message is a customer's m.text in room r, Megolm-encrypted when the
// flow is.
func (f *encFlow) message(b testing.TB, r int, body string) map[string]any {
	ev := fakehs.Message(encRoom(r).String(), encCustomer(r), body)
	if !f.encrypted {
		return ev
	}
	plain, _ := json.Marshal(map[string]any{"room_id": encRoom(r), "type": "m.room.message", "content": ev["content"]})
	f.mu.Lock()
	ogs := f.outbound[r]
	ct, err := ogs.Internal.Encrypt(plain)
	f.mu.Unlock()
	if err != nil {
		b.Fatal(err)
	}
	ev["type"] = "m.room.encrypted"
	ev["content"] = map[string]any{"algorithm": id.AlgorithmMegolmV1, "ciphertext": string(ct),
		"session_id": ogs.ID(), "sender_key": "customercurve25519keyAAAAAAAAAAAAAAAAAAAAAA", "device_id": "CUSTOMER"}
	return ev
}

func startEncFlow(b testing.TB, db *store.DB, encrypted bool) *encFlow {
	b.Helper()
	ctx := context.Background()
	log := zerolog.Nop()
	f := &encFlow{hs: fakehs.New(encBenchAS), encrypted: encrypted}
	b.Cleanup(f.hs.Close)
	cli, err := hsclient.New(f.hs.URL(), encBenchAS, 8, log)
	if err != nil {
		b.Fatal(err)
	}
	bots := []*dispatcher.Bot{{UserID: encBenchBot, Config: config.Bot{Localpart: "pizza", Welcome: "Welcome!"},
		Handler: echo.New(echo.Config{Prefix: "You said: "})}}
	dopts := dispatcher.Options{Workers: 8, PollInterval: time.Second}
	sopts := sender.Options{Workers: 8, PollInterval: time.Second}
	if encrypted {
		var c *Crypto
		c, f.outbound = keyedCrypto(b, db, cli, encBenchRooms)
		dopts.Encryption = dispatcher.Encryption{Crypto: c, KeyWait: time.Minute}
		sopts.Encrypter = c
	}
	disp := dispatcher.New(db, bots, "@bizbots:example.org", cli, dopts, log)
	snd := sender.New(db, cli, sopts, log)
	disp.OnOutbox = snd.WakeRooms
	srv := httptest.NewServer(&appservice.Server{DB: db, HSToken: encBenchHS, MaxBodyBytes: 10 << 20, Stored: disp.WakeRooms, Log: log})
	b.Cleanup(srv.Close)
	f.asURL = srv.URL
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	b.Cleanup(func() { cancel(); wg.Wait() })
	wg.Add(2)
	go func() { defer wg.Done(); _ = disp.Run(rctx) }()
	go func() { defer wg.Done(); _ = snd.Run(rctx) }()

	var invites []map[string]any
	for r := 0; r < encBenchRooms; r++ {
		f.hs.SetMembers(encRoom(r).String(), map[string]string{encCustomer(r): "Customer", encBenchBot.String(): "Pizza"})
		invites = append(invites, fakehs.Invite(encRoom(r).String(), encCustomer(r), encBenchBot.String(), true))
	}
	if status, err := fakehs.Push(ctx, f.asURL, encBenchHS, "invites", invites); err != nil || status != 200 {
		b.Fatalf("push invites: %d %v", status, err)
	}
	if !f.hs.WaitFor(time.Minute, func() bool { return f.hs.SendCount() >= encBenchRooms }) {
		b.Fatal("welcomes not sent")
	}
	return f
}

// keyedCrypto is the bot's device with the keys of rooms encRoom(0..n-1)
// in place: each customer's session in its inbound store, its own
// outbound session marked shared. No homeserver round trip is needed
// after that. It returns the customers' outbound sessions.
func keyedCrypto(tb testing.TB, db *store.DB, hs *hsclient.Client, n int) (*Crypto, []*crypto.OutboundGroupSession) {
	ctx := context.Background()
	log := zerolog.Nop()
	if err := Upgrade(ctx, db, log); err != nil {
		tb.Fatal(err)
	}
	c, err := New(db, hs, []id.UserID{encBenchBot}, Options{HomeserverURL: "http://127.0.0.1:1", ASToken: encBenchAS, PickleKey: PickleKey("bench")}, log)
	if err != nil {
		tb.Fatal(err)
	}
	dev := c.keyedDevice(tb)
	enc := &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1, RotationPeriodMessages: 10000}
	var customers []*crypto.OutboundGroupSession
	for r := 0; r < n; r++ {
		room := encRoom(r)
		c.state.set(room, enc)
		theirs, err := crypto.NewOutboundGroupSession(room, enc, nil)
		if err != nil {
			tb.Fatal(err)
		}
		customers = append(customers, theirs)
		igs, err := crypto.NewInboundGroupSession("customercurve25519keyAAAAAAAAAAAAAAAAAAAAAA", "customered25519keyAAAAAAAAAAAAAAAAAAAAAAAAA",
			room, theirs.Internal.Key(), time.Hour, 10000, nil, false)
		if err != nil {
			tb.Fatal(err)
		}
		if err := dev.store.PutGroupSession(ctx, igs); err != nil {
			tb.Fatal(err)
		}
		ours, err := crypto.NewOutboundGroupSession(room, enc, nil)
		if err != nil {
			tb.Fatal(err)
		}
		ours.Shared = true
		if err := dev.store.AddOutboundGroupSession(ctx, ours); err != nil {
			tb.Fatal(err)
		}
	}
	return c, customers
}

// keyedDevice sets up the bot's device (its account created on first use)
// on c's database without a homeserver, as another process would find it.
func (c *Crypto) keyedDevice(tb testing.TB) *device {
	ctx := context.Background()
	log := zerolog.Nop()
	cs := newCryptoStore(crypto.NewSQLCryptoStore(c.dbu, c.dbu.Log, encBenchBot.String(), "BENCHDEV", c.opts.PickleKey))
	cli, _ := mautrix.NewClient("http://127.0.0.1:1", encBenchBot, "unused")
	cli.DeviceID = "BENCHDEV"
	mach, err := c.loadMachine(ctx, cli, cs, &log)
	if err != nil {
		tb.Fatal(err)
	}
	dev := &device{bot: encBenchBot, client: cli, store: cs, mach: mach}
	c.mu.Lock()
	c.devices[encBenchBot] = dev
	c.mu.Unlock()
	return dev
}
