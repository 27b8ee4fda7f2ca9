// Package hsclient is how bizbots talks to its homeserver: as any of its
// bots (as_token plus ?user_id=), over one pooled HTTP transport shared by
// the sender, the dispatcher and provisioning. It uses mautrix-go for the
// client-server calls and turns their errors into one decision: retry
// (when, and why) or give up (why).
package hsclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// Client acts as the appservice's users.
type Client struct {
	url     string
	asToken string
	http    *http.Client
	log     zerolog.Logger

	mu      sync.Mutex
	clients map[id.UserID]*mautrix.Client
}

// NewTransport returns a keep-alive transport that can hold maxConns idle
// connections to the homeserver (Go's default keeps two, which makes
// parallel sends reconnect constantly).
func NewTransport(maxConns int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = maxConns * 2
	t.MaxIdleConnsPerHost = maxConns
	t.MaxConnsPerHost = maxConns * 2
	t.IdleConnTimeout = 90 * time.Second
	t.ResponseHeaderTimeout = 60 * time.Second
	return t
}

// New makes a client for the homeserver at url with the given as_token.
func New(url, asToken string, maxConns int, log zerolog.Logger) (*Client, error) {
	if _, err := mautrix.ParseAndNormalizeBaseURL(url); err != nil {
		return nil, fmt.Errorf("homeserver url: %w", err)
	}
	return &Client{
		url:     url,
		asToken: asToken,
		http:    &http.Client{Transport: NewTransport(maxConns), Timeout: 90 * time.Second},
		log:     log,
		clients: map[id.UserID]*mautrix.Client{},
	}, nil
}

// As returns a mautrix client acting as user. Retries are left to the
// caller (the sender keeps its own schedule in the outbox), so mautrix's
// built-in retry and rate-limit sleeping are off.
func (c *Client) As(user id.UserID) *mautrix.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cli, ok := c.clients[user]; ok {
		return cli
	}
	cli, _ := mautrix.NewClient(c.url, user, c.asToken) // url checked in New
	cli.Client = c.http
	cli.SetAppServiceUserID = true
	cli.DefaultHTTPRetries = 0
	cli.IgnoreRateLimit = true
	cli.UserAgent = "bizbots"
	// mautrix logs failed requests with their bodies (customer text);
	// bizbots logs its own classified errors instead.
	cli.Log = zerolog.Nop()
	c.clients[user] = cli
	return cli
}

// AsAppservice returns a client with the as_token and no ?user_id= (for
// registering users and pinging).
func (c *Client) AsAppservice() *mautrix.Client {
	cli, _ := mautrix.NewClient(c.url, "", c.asToken)
	cli.Client = c.http
	cli.DefaultHTTPRetries = 0
	cli.IgnoreRateLimit = true
	cli.UserAgent = "bizbots"
	cli.Log = zerolog.Nop()
	return cli
}

// Verdict is what to do after a failed call.
type Verdict struct {
	Retry bool
	// After is the homeserver's requested wait (429 retry_after_ms or
	// Retry-After), zero when it named none.
	After  time.Duration
	Reason string
	// Errcode is the Matrix errcode, if the homeserver sent one.
	Errcode string
	Status  int
}

// Classify decides whether a failed homeserver call is worth retrying:
// 429, 401 (token not known yet), 5xx, timeouts and network errors are;
// any other 4xx is not.
func Classify(err error) Verdict {
	var httpErr mautrix.HTTPError
	if errors.As(err, &httpErr) && httpErr.Response != nil {
		v := Verdict{Status: httpErr.Response.StatusCode, Reason: err.Error()}
		if httpErr.RespError != nil {
			v.Errcode = httpErr.RespError.ErrCode
			v.Reason = fmt.Sprintf("%d %s: %s", v.Status, httpErr.RespError.ErrCode, httpErr.RespError.Err)
		}
		switch {
		case v.Status == http.StatusTooManyRequests:
			v.Retry = true
			v.After = retryAfter(httpErr)
		case v.Status >= 500:
			v.Retry = true
		case v.Status == http.StatusUnauthorized:
			// The homeserver does not know our as_token (yet): the
			// registration is not loaded or is being fixed. Keep the work
			// and retry rather than failing every reply in the meantime.
			v.Retry = true
		}
		return v
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return Verdict{Retry: true, Reason: err.Error()}
	}
	// Unknown failure with no HTTP response (connection refused, reset,
	// EOF…): the request may not have arrived, so try again.
	return Verdict{Retry: true, Reason: err.Error()}
}

func retryAfter(e mautrix.HTTPError) time.Duration {
	if e.RespError != nil {
		if ms, ok := e.RespError.ExtraData["retry_after_ms"].(float64); ok && ms > 0 {
			return time.Duration(ms) * time.Millisecond
		}
	}
	if h := e.Response.Header.Get("Retry-After"); h != "" {
		if s, err := strconv.Atoi(h); err == nil && s > 0 {
			return time.Duration(s) * time.Second
		}
	}
	return 0
}

// Backoff is the wait before attempt number attempt+1: exponential from
// base, capped at max, never shorter than the homeserver asked for.
func Backoff(attempt int, base, max, asked time.Duration) time.Duration {
	d := base
	for i := 0; i < attempt && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	if asked > d {
		d = asked
	}
	return d
}

// Join makes bot join room (accepting an invite).
func (c *Client) Join(ctx context.Context, bot id.UserID, room id.RoomID) error {
	_, err := c.As(bot).JoinRoomByID(ctx, room)
	return err
}

// JoinedMembers returns the room's joined members and their display names,
// as bot sees them.
func (c *Client) JoinedMembers(ctx context.Context, bot id.UserID, room id.RoomID) (map[id.UserID]string, error) {
	resp, err := c.As(bot).JoinedMembers(ctx, room)
	if err != nil {
		return nil, err
	}
	out := make(map[id.UserID]string, len(resp.Joined))
	for uid, m := range resp.Joined {
		out[uid] = m.DisplayName
	}
	return out, nil
}

// Send sends one event as bot with the given transaction id and returns
// the event id the homeserver assigned.
func (c *Client) Send(ctx context.Context, bot id.UserID, room id.RoomID, eventType string, txnID string, content json.RawMessage) (id.EventID, error) {
	resp, err := c.As(bot).SendMessageEvent(ctx, room, event.Type{Type: eventType, Class: event.MessageEventType},
		content, mautrix.ReqSendEvent{TransactionID: txnID})
	if err != nil {
		return "", err
	}
	return resp.EventID, nil
}

// MarkRead sends a read receipt for eventID as bot (best effort: callers
// log and ignore errors).
func (c *Client) MarkRead(ctx context.Context, bot id.UserID, room id.RoomID, eventID id.EventID) error {
	return c.As(bot).MarkRead(ctx, room, eventID)
}

// Typing sets bot's typing notification in room.
func (c *Client) Typing(ctx context.Context, bot id.UserID, room id.RoomID, typing bool, timeout time.Duration) error {
	_, err := c.As(bot).UserTyping(ctx, room, typing, timeout)
	return err
}

// TxnMarkerKey is the content key the sender stamps every event with (its
// Matrix transaction id), so a send whose outcome was lost can be found
// in the room afterwards.
const TxnMarkerKey = "org.bizbots.txn_id"

// findSentDepth is how many of the bot's most recent events FindSent
// looks through.
const findSentDepth = 100

// FindSent looks for an event bot already sent to room carrying txnID in
// TxnMarkerKey. Homeservers deduplicate resends by txn id only when they
// answered the first attempt (Dendrite forgets a send whose request was
// cut off, yet stores its event), so after an attempt with an unknown
// outcome the sender asks the room instead of trusting the resend.
func (c *Client) FindSent(ctx context.Context, bot id.UserID, room id.RoomID, txnID string) (id.EventID, bool, error) {
	resp, err := c.As(bot).Messages(ctx, room, "", "", mautrix.DirectionBackward,
		&mautrix.FilterPart{Senders: []id.UserID{bot}, Limit: findSentDepth}, findSentDepth)
	if err != nil {
		return "", false, err
	}
	for _, evt := range resp.Chunk {
		if evt.Sender != bot {
			continue
		}
		if v, _ := evt.Content.Raw[TxnMarkerKey].(string); v == txnID {
			return evt.ID, true, nil
		}
	}
	return "", false, nil
}
