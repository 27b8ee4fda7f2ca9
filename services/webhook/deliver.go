package webhook

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/rs/zerolog"
	"go.mau.fi/util/retryafter"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/handlers/wire"
	"github.com/bizbots/bizbots/media"
)

var deliveries = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "bizbots_webhook_deliveries_total",
	Help: "Webhook requests to business servers, by outcome (delivered, failed, gone, breaker_open, disabled, given_up).",
}, []string{"outcome"})

// Schedule is the delay before each retry of a failed delivery (Standard
// Webhooks' schedule): the first attempt is immediate, the last retry
// about 27 hours after it. After the last, the event is given up.
var Schedule = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}

// maxResponseBytes bounds a business's answer.
const maxResponseBytes = 1 << 20

// maxReplies bounds the replies one answer may carry.
const maxReplies = 20

// endpoint is the live state of one business server: its client, the
// limit of requests in flight and the circuit breaker.
type endpoint struct {
	url     string
	secrets []string
	client  *http.Client
	slots   chan struct{}
	breaker *breaker
	// now stamps webhook-timestamp; the receiver checks it against its
	// own clock, so it is always the real time.
	now func() time.Time
}

func newEndpoint(cfg Config) *endpoint {
	return &endpoint{
		url:     cfg.URL,
		secrets: append([]string{cfg.Secret}, cfg.OldSecrets...),
		client:  &http.Client{Timeout: cfg.Timeout.D(), CheckRedirect: noRedirects},
		slots:   make(chan struct{}, cfg.Concurrency),
		breaker: newBreaker(5, 30*time.Second),
		now:     time.Now,
	}
}

// A webhook URL is configured exactly; following a redirect would post a
// signed body somewhere the admin did not say.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Answer is what a business server may answer with a 2xx.
type Answer struct {
	Replies []wire.Reply `json:"replies"`
}

// Result is the outcome of one request.
type Result struct {
	Status int
	Took   time.Duration
	Answer *Answer
	// AnswerErr says why a 2xx body was not a usable answer.
	AnswerErr error
	// Err is why the delivery failed ("" status 0: no response).
	Err error
	// RetryAfter is the server's Retry-After on 429/503, 0 if none.
	RetryAfter time.Duration
	Gone       bool
}

// Delivered says whether the business has the event.
func (r Result) Delivered() bool { return r.Err == nil }

// Post signs and sends one event to the endpoint, waiting for a free slot.
func (e *endpoint) Post(ctx context.Context, msgID string, body []byte) Result {
	return e.PostTo(ctx, e.url, e.secrets, msgID, body)
}

// PostTo is Post to url signed with secrets (the console's settings).
func (e *endpoint) PostTo(ctx context.Context, url string, secrets []string, msgID string, body []byte) Result {
	select {
	case e.slots <- struct{}{}:
		defer func() { <-e.slots }()
	case <-ctx.Done():
		return Result{Err: fmt.Errorf("waiting for a free connection to the business server: %w", ctx.Err())}
	}
	ts := e.now()
	sig, err := Sign(secrets, msgID, ts, body)
	if err != nil {
		return Result{Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return Result{Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "bizbots-webhook/1")
	req.Header.Set(HeaderID, msgID)
	req.Header.Set(HeaderTimestamp, fmt.Sprint(ts.Unix()))
	req.Header.Set(HeaderSignature, sig)
	start := time.Now()
	resp, err := e.client.Do(req)
	if err != nil {
		return Result{Took: time.Since(start), Err: fmt.Errorf("no answer from the business server: %w", err)}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	r := Result{Status: resp.StatusCode, Took: time.Since(start)}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		if err != nil {
			// The server took the event; only its answer was cut short.
			r.AnswerErr = fmt.Errorf("read answer: %w", err)
			return r
		}
		r.Answer, r.AnswerErr = parseAnswer(raw)
	case resp.StatusCode == http.StatusGone:
		r.Gone = true
		r.Err = errors.New("the business server answered 410 Gone: endpoint disabled")
	default:
		r.Err = fmt.Errorf("the business server answered HTTP %d", resp.StatusCode)
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			r.RetryAfter = retryafter.Parse(resp.Header.Get("Retry-After"), 0)
		}
	}
	return r
}

// parseAnswer reads a 2xx body: empty, or {"replies": […]}.
func parseAnswer(raw []byte) (*Answer, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return &Answer{}, nil
	}
	if len(raw) > maxResponseBytes {
		return nil, fmt.Errorf("answer larger than %d bytes", maxResponseBytes)
	}
	var a Answer
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&a); err != nil {
		return nil, fmt.Errorf("answer is not {\"replies\": [...]}: %w", err)
	}
	if len(a.Replies) > maxReplies {
		return nil, fmt.Errorf("answer has %d replies; at most %d", len(a.Replies), maxReplies)
	}
	for i, r := range a.Replies {
		if err := wire.Check(fmt.Sprintf("replies[%d]", i), r); err != nil {
			return nil, err
		}
	}
	return &a, nil
}

// delivery is what the service keeps of an event's earlier attempts.
type delivery struct {
	attempts int
	held     bool
	disabled string
}

func (s *Service) load(ctx context.Context, c *handlers.Conversation, msgID, url string) (delivery, error) {
	var d delivery
	bot := s.bot.String()
	err := s.db.QueryRowContext(ctx, `SELECT attempts FROM webhook_attempts WHERE bot_user_id = $1 AND msg_id = $2`, bot, msgID).Scan(&d.attempts)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("read webhook attempts: %w", err)
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM webhook_held WHERE bot_user_id = $1 AND room_id = $2`, bot, c.Room.String()).Scan(&n); err != nil {
		return d, fmt.Errorf("read webhook holding state: %w", err)
	}
	d.held = n > 0
	err = s.db.QueryRowContext(ctx, `SELECT reason FROM webhook_disabled WHERE bot_user_id = $1 AND url = $2`, bot, url).Scan(&d.disabled)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("read webhook endpoint state: %w", err)
	}
	return d, nil
}

// deliver posts ev and turns the outcome into the conversation's effects:
// the business's replies, or a retry at the schedule's next time with the
// customer told once that their message is kept. quiet: the event is not
// the customer's message (an erasure, a conversation ended), so they are
// told nothing while it waits.
func (s *Service) deliver(ctx context.Context, c *handlers.Conversation, msgID string, ev Event, quiet bool) error {
	log := zerolog.Ctx(ctx).With().Str("webhook_id", msgID).Str("event_type", ev.Type).Logger()
	to, err := s.target(ctx)
	if err != nil {
		return handlers.Temporary(err)
	}
	d, err := s.load(ctx, c, msgID, to.url)
	if err != nil {
		return handlers.Temporary(err)
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode webhook event: %w", err)
	}
	now := c.Now()
	var res Result
	if d.disabled != "" {
		res = Result{Err: errors.New("endpoint disabled: " + d.disabled)}
		deliveries.WithLabelValues("disabled").Inc()
	} else if ok, until := s.ep.breaker.allow(now); !ok {
		res = Result{Err: fmt.Errorf("circuit breaker open until %s after repeated failures", until.UTC().Format(time.RFC3339))}
		deliveries.WithLabelValues("breaker_open").Inc()
	} else {
		res = s.ep.PostTo(ctx, to.url, to.secrets, msgID, body)
		s.ep.breaker.done(now, res.Delivered())
	}
	bot, room, user := s.bot.String(), c.Room.String(), c.Customer.ID.String()
	if res.Delivered() {
		deliveries.WithLabelValues("delivered").Inc()
		if res.AnswerErr != nil {
			log.Warn().Err(res.AnswerErr).Int("status", res.Status).Msg("business server took the event but its answer is unusable")
		} else {
			for _, r := range res.Answer.Replies {
				if err := s.resolveMedia(ctx, &r); err != nil {
					return handlers.Temporary(err)
				}
				if r.HasMedia() || strings.TrimSpace(r.Text) != "" {
					wire.Queue(c, r)
				}
			}
		}
		log.Debug().Int("status", res.Status).Dur("took", res.Took).Msg("webhook delivered")
		s.record(c, msgID, ev.Type, res, StatusDelivered, time.Time{})
		c.OnCommit(func(ctx context.Context, tx *sql.Tx) error {
			return s.clear(ctx, tx, msgID, room)
		})
		return nil
	}
	if res.Gone {
		deliveries.WithLabelValues("gone").Inc()
		// The admin is told in the log and in `bizbots bots list`.
		log.Error().Str("bot", bot).Str("url", to.url).
			Msg("business server answered 410 Gone: webhook disabled; events wait on the retry schedule; turn it back on with `bizbots webhook enable`")
		c.OnCommit(func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO webhook_disabled (bot_user_id, url, reason, disabled_at) VALUES ($1, $2, $3, $4)
				ON CONFLICT (bot_user_id) DO UPDATE SET url = excluded.url, reason = excluded.reason, disabled_at = excluded.disabled_at`,
				bot, to.url, "410 Gone", now.UnixMilli())
			return err
		})
	} else if d.disabled == "" {
		deliveries.WithLabelValues("failed").Inc()
	}
	attempt := d.attempts + 1
	if attempt > len(Schedule) {
		deliveries.WithLabelValues("given_up").Inc()
		log.Error().Err(res.Err).Int("attempts", attempt).Str("bot", bot).Msg("webhook event given up after the whole retry schedule")
		if !quiet {
			c.Notice(s.cfg.GiveUpText)
		}
		s.record(c, msgID, ev.Type, res, StatusGivenUp, time.Time{})
		c.OnCommit(func(ctx context.Context, tx *sql.Tx) error { return s.clear(ctx, tx, msgID, room) })
		return nil
	}
	wait := jitter(Schedule[attempt-1])
	if res.RetryAfter > wait {
		wait = min(res.RetryAfter, 24*time.Hour)
	}
	tell := !d.held && !quiet
	if tell {
		c.Notice(s.cfg.HoldingText)
	}
	reason := res.Err.Error()
	s.record(c, msgID, ev.Type, res, StatusRetrying, now.Add(wait))
	c.OnCommit(func(ctx context.Context, tx *sql.Tx) error {
		if tell {
			if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_held (bot_user_id, room_id, user_id, told_at) VALUES ($1, $2, $3, $4)
				ON CONFLICT (bot_user_id, room_id) DO NOTHING`, bot, room, user, now.UnixMilli()); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO webhook_attempts (bot_user_id, msg_id, attempts, first_at, last_error) VALUES ($1, $2, 1, $3, $4)
			ON CONFLICT (bot_user_id, msg_id) DO UPDATE SET attempts = webhook_attempts.attempts + 1, last_error = excluded.last_error`,
			bot, msgID, now.UnixMilli(), reason)
		return err
	})
	log.Warn().Err(res.Err).Int("attempt", attempt).Dur("retry_in", wait).Msg("webhook delivery failed; will retry")
	return handlers.RetryAt(now.Add(wait), res.Err)
}

// clear forgets an event's attempts and the room's holding notice once the
// event is settled.
func (s *Service) clear(ctx context.Context, tx *sql.Tx, msgID, room string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_attempts WHERE bot_user_id = $1 AND msg_id = $2`, s.bot.String(), msgID); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM webhook_held WHERE bot_user_id = $1 AND room_id = $2`, s.bot.String(), room)
	return err
}

// jitter spreads d by ±10% so many rooms failing together do not retry
// together.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.2-0.1)*float64(d))
}

// resolveMedia puts a reply's image or file given by URL into the
// homeserver's repository. Media the business got wrong (a bad URL, too
// large, not an image) is left out and logged, its caption still sent;
// an error is the homeserver's, worth a retry.
func (s *Service) resolveMedia(ctx context.Context, r *wire.Reply) error {
	if !r.HasMedia() {
		return nil
	}
	var err error
	if s.media != nil {
		err = s.media.Resolve(ctx, s.bot, r)
	} else if (r.Image != nil && !strings.HasPrefix(r.Image.URL, "mxc://")) || (r.File != nil && !strings.HasPrefix(r.File.URL, "mxc://")) {
		err = &media.Error{Code: "BB_MEDIA_URL", Msg: "media by URL is not available here; give an mxc:// URI"}
	}
	var me *media.Error
	if errors.As(err, &me) {
		zerolog.Ctx(ctx).Warn().Str("errcode", me.Code).Str("reason", me.Msg).Msg("business's answer has media that cannot be sent; sent without it")
		r.Image, r.File = nil, nil
		return nil
	}
	return err
}
