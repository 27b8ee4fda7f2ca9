// Package hscheck asks the homeserver whether bizbots' configuration fits
// it, and says what to change when it does not: is homeserver.url really a
// Matrix homeserver, does it know our as_token, is its server name the
// configured homeserver.domain, are the bots registered, can it reach the
// appservice. serve runs the first three before it provisions the bots;
// `bizbots doctor` runs them all. It changes nothing on the homeserver.
package hscheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"maunium.net/go/mautrix/id"
)

// Level grades a finding.
type Level int

// Finding levels, best first.
const (
	OK Level = iota
	Warn
	Fail
)

// Finding is the answer to one check.
type Finding struct {
	Check  string // what was checked, e.g. "homeserver is a Matrix homeserver"
	Level  Level
	Detail string // what was found
	Fix    string // what to do about it (a config line or a command); "" when OK
}

// Checker talks to one homeserver as the appservice.
type Checker struct {
	URL     string // homeserver.url
	Domain  string // homeserver.domain
	ASToken string
	// Client defaults to one with a 10 s timeout.
	Client *http.Client
}

func (c *Checker) client() *http.Client {
	if c.Client != nil {
		return c.Client
	}
	return &http.Client{Timeout: 10 * time.Second}
}

// answer is one HTTP exchange, read in full (bounded).
type answer struct {
	status  int
	ctype   string
	body    []byte
	errcode string
	errText string
}

func (c *Checker) do(ctx context.Context, method, path string, auth bool, body string) (*answer, error) {
	u := strings.TrimRight(c.URL, "/") + path
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+c.ASToken)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.client().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	a := &answer{status: resp.StatusCode, body: data}
	a.ctype, _, _ = mime.ParseMediaType(resp.Header.Get("Content-Type"))
	var e struct {
		Errcode string `json:"errcode"`
		Error   string `json:"error"`
	}
	if json.Unmarshal(data, &e) == nil {
		a.errcode, a.errText = e.Errcode, e.Error
	}
	return a, nil
}

// Homeserver checks that URL answers /_matrix/client/versions as a Matrix
// homeserver does.
func (c *Checker) Homeserver(ctx context.Context) Finding {
	f := Finding{Check: "homeserver.url is a Matrix homeserver"}
	a, err := c.do(ctx, http.MethodGet, "/_matrix/client/versions", false, "")
	if err != nil {
		f.Level = Fail
		f.Detail = fmt.Sprintf("cannot reach %s: %s", c.URL, netReason(err))
		f.Fix = "start the homeserver, or set homeserver.url to the address of its client-server API (e.g. http://localhost:8008)"
		return f
	}
	var v struct {
		Versions []string `json:"versions"`
	}
	if a.status != http.StatusOK || json.Unmarshal(a.body, &v) != nil || len(v.Versions) == 0 {
		f.Level = Fail
		f.Detail = fmt.Sprintf("%s is not a Matrix homeserver: GET /_matrix/client/versions answered HTTP %d %s", c.URL, a.status, describe(a))
		f.Fix = "set homeserver.url to the homeserver's client-server API (the URL clients use, or its internal address such as http://localhost:8008), not a web page or the federation port"
		return f
	}
	f.Detail = fmt.Sprintf("%s speaks Matrix (spec versions up to %s)", c.URL, v.Versions[len(v.Versions)-1])
	return f
}

// Identity asks who the as_token belongs to. It returns two findings: the
// token is known to the homeserver, and the homeserver's server name is
// homeserver.domain.
func (c *Checker) Identity(ctx context.Context) (token, domain Finding) {
	token = Finding{Check: "the homeserver knows our as_token"}
	domain = Finding{Check: "homeserver.domain is the homeserver's server name"}
	a, err := c.do(ctx, http.MethodGet, "/_matrix/client/v3/account/whoami", true, "")
	if err != nil {
		token.Level, domain.Level = Fail, Warn
		token.Detail = "cannot reach the homeserver: " + netReason(err)
		token.Fix = "fix homeserver.url first"
		domain.Detail = "not checked (no answer)"
		return token, domain
	}
	switch {
	case a.status == http.StatusOK:
	case a.errcode == "M_UNKNOWN_TOKEN" || a.status == http.StatusUnauthorized:
		token.Level = Fail
		token.Detail = fmt.Sprintf("the homeserver does not know appservice.as_token (%s): it has not loaded this registration, or loaded an older one", describe(a))
		token.Fix = "give the homeserver the registration file bizbots checks (appservice.registration; regenerate it with `bizbots generate-registration --force` if in doubt) and restart the homeserver"
		domain.Level, domain.Detail = Warn, "not checked (the token is unknown)"
		return token, domain
	default:
		token.Level = Fail
		token.Detail = fmt.Sprintf("whoami as the appservice answered HTTP %d %s", a.status, describe(a))
		token.Fix = "check the homeserver's log for the appservice registration"
		domain.Level, domain.Detail = Warn, "not checked"
		return token, domain
	}
	var who struct {
		UserID id.UserID `json:"user_id"`
	}
	_ = json.Unmarshal(a.body, &who)
	token.Detail = "as_token belongs to " + who.UserID.String()
	server := who.UserID.Homeserver()
	if server == "" {
		domain.Level, domain.Detail = Warn, fmt.Sprintf("whoami answered no usable user id (%q)", who.UserID)
		return token, domain
	}
	if server != c.Domain {
		domain.Level = Fail
		domain.Detail = fmt.Sprintf("homeserver.domain is %q but the homeserver's users are @…:%s", c.Domain, server)
		domain.Fix = fmt.Sprintf("set homeserver.domain: %q in the config, then `bizbots generate-registration --force` and restart the homeserver", server)
		return token, domain
	}
	domain.Detail = "the homeserver's users are @…:" + server
	return token, domain
}

// ErrMisconfigured is wrapped by Preflight's error: the homeserver answered,
// and what it said means the configuration is wrong (not that it is down).
var ErrMisconfigured = errors.New("the homeserver and the configuration do not fit")

// Preflight runs the checks serve needs before provisioning (homeserver,
// token, domain) and returns the first failure as an error that names
// the cause and the fix; nil when all pass.
func (c *Checker) Preflight(ctx context.Context) error {
	hs := c.Homeserver(ctx)
	if hs.Level == Fail {
		if strings.HasPrefix(hs.Detail, "cannot reach") {
			return errors.New(hs.Detail)
		}
		return fmt.Errorf("%w: %s; %s", ErrMisconfigured, hs.Detail, hs.Fix)
	}
	tok, dom := c.Identity(ctx)
	for _, f := range []Finding{tok, dom} {
		if f.Level == Fail {
			return fmt.Errorf("%w: %s; %s", ErrMisconfigured, f.Detail, f.Fix)
		}
	}
	return nil
}

// Bot checks that a bot user exists on the homeserver (whoami as the bot).
func (c *Checker) Bot(ctx context.Context, bot id.UserID) Finding {
	f := Finding{Check: "bot " + bot.String() + " is registered"}
	a, err := c.do(ctx, http.MethodGet, "/_matrix/client/v3/account/whoami?user_id="+url.QueryEscape(bot.String()), true, "")
	switch {
	case err != nil:
		f.Level, f.Detail = Warn, "cannot reach the homeserver: "+netReason(err)
	case a.status == http.StatusOK:
		f.Detail = "exists"
	case a.status == http.StatusForbidden || a.status == http.StatusUnauthorized:
		f.Level = Warn
		f.Detail = fmt.Sprintf("not registered yet (%s)", describe(a))
		f.Fix = "`bizbots serve` registers it at start; if serve runs and this stays, check that the registration's namespace covers " + bot.String()
	default:
		f.Level, f.Detail = Warn, fmt.Sprintf("whoami answered HTTP %d %s", a.status, describe(a))
	}
	return f
}

// Ping asks the homeserver to call the appservice (spec v1.7
// /appservice/{id}/ping). Only a running serve can answer it.
func (c *Checker) Ping(ctx context.Context, appserviceID string) Finding {
	f := Finding{Check: "the homeserver can reach the appservice"}
	body := fmt.Sprintf(`{"transaction_id":"doctor-%d"}`, time.Now().UnixNano())
	a, err := c.do(ctx, http.MethodPost, "/_matrix/client/v1/appservice/"+url.PathEscape(appserviceID)+"/ping", true, body)
	switch {
	case err != nil:
		f.Level, f.Detail = Warn, "cannot reach the homeserver: "+netReason(err)
	case a.status == http.StatusOK:
		var r struct {
			DurationMS int64 `json:"duration_ms"`
		}
		_ = json.Unmarshal(a.body, &r)
		f.Detail = fmt.Sprintf("ping went through in %d ms", r.DurationMS)
	case a.status == http.StatusNotFound && (a.errcode == "M_UNRECOGNIZED" || a.errcode == ""):
		f.Level = Warn
		f.Detail = "this homeserver does not support the appservice ping (spec v1.7)"
		f.Fix = "check by hand: start a chat with a bot; if it never joins, the homeserver cannot reach appservice.url (its log says so)"
	case a.errcode == "M_CONNECTION_FAILED" || a.errcode == "M_CONNECTION_TIMEOUT":
		f.Level = Fail
		f.Detail = "the homeserver cannot reach appservice.url (" + describe(a) + ")"
		f.Fix = "make appservice.url an address the homeserver can connect to (and `bizbots serve` running there), then `bizbots generate-registration --force` and restart the homeserver"
	case a.errcode == "M_BAD_STATUS":
		f.Level = Fail
		f.Detail = "the homeserver reached an appservice that refused it (" + describe(a) + "): hs_token differs, or another program listens on appservice.url"
		f.Fix = "give the homeserver the current registration file and restart it"
	default:
		f.Level, f.Detail = Warn, fmt.Sprintf("ping answered HTTP %d %s", a.status, describe(a))
	}
	return f
}

func describe(a *answer) string {
	switch {
	case a.errcode != "":
		return a.errcode + ": " + a.errText
	case a.ctype != "" && a.ctype != "application/json":
		return "(" + a.ctype + ")"
	default:
		return ""
	}
}

func netReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

// AppserviceLogin checks that the homeserver lets the appservice log its
// bots in (POST /login type m.login.application_service), which is how
// each bot gets the device it needs in encrypted rooms.
func (c *Checker) AppserviceLogin(ctx context.Context) Finding {
	f := Finding{Check: "the homeserver gives bots devices (appservice login)"}
	a, err := c.do(ctx, http.MethodGet, "/_matrix/client/v3/login", false, "")
	if err != nil {
		f.Level, f.Detail = Warn, "cannot reach the homeserver: "+netReason(err)
		return f
	}
	var flows struct {
		Flows []struct {
			Type string `json:"type"`
		} `json:"flows"`
	}
	_ = json.Unmarshal(a.body, &flows)
	for _, fl := range flows.Flows {
		if fl.Type == "m.login.application_service" {
			f.Detail = "m.login.application_service is offered"
			return f
		}
	}
	f.Level = Fail
	f.Detail = fmt.Sprintf("GET /_matrix/client/v3/login does not offer m.login.application_service (HTTP %d %s)", a.status, describe(a))
	f.Fix = "use a homeserver that supports appservice login (Synapse, Dendrite, conduwuit/continuwuity), or set encryption.allow: false"
	return f
}
