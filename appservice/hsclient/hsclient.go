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
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/util/retryafter"
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

// Bounds on the parts of one request that are not the homeserver's work:
// a homeserver that accepts connections but never answers must not hold a
// caller for long. The whole request is bounded by the caller's context
// (the sender's request_timeout); these keep a stuck dial, TLS handshake or
// a request no one answers from outliving it.
const (
	dialTimeout           = 10 * time.Second
	tlsHandshakeTimeout   = 10 * time.Second
	responseHeaderTimeout = 60 * time.Second
	clientTimeout         = 90 * time.Second
)

// NewTransport returns a keep-alive transport that can hold maxConns idle
// connections to the homeserver (Go's default, which mautrix uses, keeps
// two per host, which makes parallel sends reconnect constantly), with
// bounded dial, TLS and response-header waits.
func NewTransport(maxConns int) *http.Transport {
	maxConns = max(maxConns, 2)
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = tlsHandshakeTimeout
	t.ResponseHeaderTimeout = responseHeaderTimeout
	t.MaxIdleConns = maxConns * 2
	t.MaxIdleConnsPerHost = maxConns
	// A hung request holds its connection until its deadline; room for
	// twice the callers keeps the others from queueing behind it.
	t.MaxConnsPerHost = maxConns * 2
	t.IdleConnTimeout = 90 * time.Second
	return t
}

// New makes a client for the homeserver at url with the given as_token;
// maxConns is how many callers use it at once (sender plus dispatcher
// workers).
func New(url, asToken string, maxConns int, log zerolog.Logger) (*Client, error) {
	if _, err := mautrix.ParseAndNormalizeBaseURL(url); err != nil {
		return nil, fmt.Errorf("homeserver url: %w", err)
	}
	return &Client{
		url:     url,
		asToken: asToken,
		http:    &http.Client{Transport: NewTransport(maxConns), Timeout: clientTimeout},
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

// Classify decides whether a failed homeserver call is worth retrying.
// Only a refusal the homeserver means for good is final: a 4xx with a
// Matrix errcode, except 429, 401 (our as_token is not known yet: the
// registration is not loaded or is being fixed) and the 403s that pass
// (a bot the homeserver does not know as ours yet, a resource limit).
// 5xx, timeouts, network errors and answers that did not come from a
// Matrix homeserver (a proxy's 404 page during maintenance, 408, 425) are
// retried: the homeserver will be back.
func Classify(err error) Verdict {
	var httpErr mautrix.HTTPError
	if errors.As(err, &httpErr) && httpErr.Response != nil {
		v := Verdict{Status: httpErr.Response.StatusCode, Reason: err.Error()}
		if httpErr.RespError != nil && httpErr.RespError.ErrCode != "" {
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
			v.Retry = true
		case v.Status == http.StatusForbidden:
			v.Retry = temporaryForbidden(httpErr.RespError)
		case v.Status == http.StatusRequestTimeout, v.Status == http.StatusTooEarly:
			v.Retry = true
		case v.Status == http.StatusNotFound && v.Errcode == "":
			// Not a homeserver's answer: a proxy in front of one that
			// is down or being moved.
			v.Retry = true
		}
		return v
	}
	// No HTTP answer at all (connection refused or reset, EOF, timeout):
	// the request may not have arrived, so try again.
	return Verdict{Retry: true, Reason: err.Error()}
}

// temporaryForbidden reports whether a 403 will pass by itself: Synapse and
// Dendrite answer "Application service has not registered this user" for a
// bot that provisioning has not registered yet, and M_RESOURCE_LIMIT_EXCEEDED
// lasts until the homeserver's admin lifts the limit.
func temporaryForbidden(e *mautrix.RespError) bool {
	if e == nil {
		return false
	}
	return e.ErrCode == "M_RESOURCE_LIMIT_EXCEEDED" ||
		strings.Contains(strings.ToLower(e.Err), "has not registered this user")
}

// IsUnregistered reports whether err is the homeserver refusing to let
// the appservice act as a user it has not registered: 403 "Application
// service has not registered this user" (Synapse and Dendrite word it the
// same). Registering the user cures it.
func IsUnregistered(err error) bool {
	var httpErr mautrix.HTTPError
	if !errors.As(err, &httpErr) || httpErr.Response == nil || httpErr.Response.StatusCode != http.StatusForbidden || httpErr.RespError == nil {
		return false
	}
	return strings.Contains(strings.ToLower(httpErr.RespError.Err), "has not registered this user")
}

func retryAfter(e mautrix.HTTPError) time.Duration {
	if e.RespError != nil {
		if ms, ok := e.RespError.ExtraData["retry_after_ms"].(float64); ok && ms > 0 {
			return time.Duration(ms) * time.Millisecond
		}
	}
	return max(retryafter.Parse(e.Response.Header.Get("Retry-After"), 0), 0)
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

// PowerLevels reads the room's m.room.power_levels as bot sees it now.
func (c *Client) PowerLevels(ctx context.Context, bot id.UserID, room id.RoomID) (*event.PowerLevelsEventContent, error) {
	var pl event.PowerLevelsEventContent
	if err := c.As(bot).StateEvent(ctx, room, event.StatePowerLevels, "", &pl); err != nil {
		return nil, err
	}
	return &pl, nil
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

// CreateDirectRoom creates a direct chat as bot with customer invited
// (trusted_private_chat: both may do everything, as in a DM a client
// opens), end-to-end encrypted from its first event when encrypted is
// set. It returns the new room's id.
func (c *Client) CreateDirectRoom(ctx context.Context, bot, customer id.UserID, encrypted bool) (id.RoomID, error) {
	req := &mautrix.ReqCreateRoom{Preset: "trusted_private_chat", IsDirect: true, Invite: []id.UserID{customer}}
	if encrypted {
		empty := ""
		req.InitialState = []*event.Event{{Type: event.StateEncryption, StateKey: &empty,
			Content: event.Content{Parsed: &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}}}}
	}
	resp, err := c.As(bot).CreateRoom(ctx, req)
	if err != nil {
		return "", err
	}
	return resp.RoomID, nil
}

// UploadMedia stores data in the homeserver's media repository as bot
// and returns its mxc:// URI (media.Uploader).
func (c *Client) UploadMedia(ctx context.Context, bot id.UserID, data []byte, contentType, name string) (id.ContentURIString, error) {
	resp, err := c.As(bot).UploadBytesWithName(ctx, data, contentType, name)
	if err != nil {
		return "", err
	}
	return resp.ContentURI.CUString(), nil
}
