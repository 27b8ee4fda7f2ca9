package sendapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/pb33f/libopenapi/datamodel/high/base"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/media"
	"github.com/bizbots/bizbots/runtimebots"
	"github.com/bizbots/bizbots/sendapi"
	"github.com/bizbots/bizbots/services/webhook"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

func openAPIDoc(t *testing.T) libopenapi.Document {
	t.Helper()
	spec, err := os.ReadFile("../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := libopenapi.NewDocument(spec)
	if err != nil {
		t.Fatalf("docs/openapi.yaml: %v", err)
	}
	return doc
}

// The server answers every request as docs/openapi.yaml says: each
// request and response below is validated against the document.
func TestServerMatchesOpenAPI(t *testing.T) {
	doc := openAPIDoc(t)
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("docs/openapi.yaml is not valid OpenAPI 3.1: %s", e.Error())
		}
		t.FailNow()
	}
	db := storetest.New(t, store.SQLite)
	cfg, err := config.Parse([]byte(`homeserver: {url: "http://127.0.0.1:1", domain: example.org}
appservice: {as_token: "`+strings.Repeat("a", 40)+`", hs_token: "`+strings.Repeat("b", 40)+`", bot_namespace: '@(bizbots|echo|shop_.*):example\.org'}
bots: [{localpart: echo}]
`), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	admin := strings.Repeat("c", 40)
	_, withHS := withHomeserver(t, false)
	a := newAPI(t, db, withHS, func(s *sendapi.Server) {
		s.Media = &media.Resolver{DB: db, HS: s.Rooms.(media.Uploader)}
		s.Rate, s.Burst = rate.Limit(0.001), 10 // the tenth business request below is the last allowed
		s.Extra = (&runtimebots.Admin{DB: db, Config: cfg, Token: admin, Log: zerolog.Nop()}).Mount
	})
	handler := a.srv.Config.Handler
	bot := url.PathEscape(shopBot.String())
	calls := []struct {
		method, path, token, key string
		body                     any
		status                   int
	}{
		{"POST", "/_bizbots/v1/bots/" + bot + "/messages", a.token, "k1", map[string]any{"to": alice, "text": "hi", "choices": []map[string]string{{"key": "a", "label": "A"}}}, 202},
		{"POST", "/_bizbots/v1/bots/" + bot + "/messages", a.token, "k1", map[string]any{"to": alice, "text": "other"}, 422},
		{"POST", "/_bizbots/v1/bots/" + bot + "/messages", "", "", map[string]any{"to": alice, "text": "hi"}, 401},
		{"POST", "/_bizbots/v1/bots/" + bot + "/messages", a.other, "", map[string]any{"to": alice, "text": "hi"}, 403},
		{"POST", "/_bizbots/v1/bots/" + bot + "/messages", a.token, "", map[string]any{"to": bob, "text": "hi"}, 403},
		{"POST", "/_bizbots/v1/bots/" + bot + "/messages", a.token, "", map[string]any{"room_id": dm, "text": "*hi*", "markdown": true}, 202},
		{"GET", "/_bizbots/v1/bots/" + bot + "/messages/m_nope", a.token, "", nil, 404},
		{"POST", "/_bizbots/v1/bots/" + bot + "/media?filename=dot.png", a.token, "", pngBytes(t, 1, 1), 200},
		{"POST", "/_bizbots/v1/bots/" + bot + "/messages", a.token, "", map[string]any{"to": alice, "text": "Logo", "image": map[string]any{"url": "mxc://example.org/upload1", "alt": "logo"}}, 202},
		{"GET", "/_bizbots/v1/bots/" + bot + "/customers/" + url.PathEscape(alice.String()), a.token, "", nil, 200},
		{"GET", "/_bizbots/v1/bots/" + bot + "/customers/" + url.PathEscape(bob.String()), a.token, "", nil, 404},
		{"GET", "/_bizbots/v1/admin/bots", admin, "", nil, 200},
		{"POST", "/_bizbots/v1/admin/bots", admin, "", map[string]any{"localpart": "shop_x", "business": "x", "url": "https://x.example/hook"}, 201},
		{"POST", "/_bizbots/v1/admin/bots", admin, "", map[string]any{"localpart": "nope", "business": "x", "url": "https://x.example/hook"}, 400},
		{"POST", "/_bizbots/v1/admin/bots/shop_x/rotate-secret", admin, "", nil, 200},
		{"DELETE", "/_bizbots/v1/admin/bots/shop_x", admin, "", nil, 200},
		{"DELETE", "/_bizbots/v1/admin/bots/shop_x", "bad", "", nil, 401},
	}
	var sentID string
	for _, c := range calls {
		var raw []byte
		contentType := "application/json"
		if b, ok := c.body.([]byte); ok {
			raw, contentType = b, "image/png"
		} else if c.body != nil {
			raw, _ = json.Marshal(c.body)
		}
		newReq := func() *http.Request {
			r := httptest.NewRequest(c.method, "http://127.0.0.1:29331"+c.path, bytes.NewReader(raw))
			if c.body != nil {
				r.Header.Set("Content-Type", contentType)
			}
			if c.token != "" {
				r.Header.Set("Authorization", "Bearer "+c.token)
			}
			if c.key != "" {
				r.Header.Set("Idempotency-Key", c.key)
			}
			return r
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, newReq())
		resp := rec.Result()
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: status %d, want %d: %s", c.method, c.path, resp.StatusCode, c.status, rec.Body.String())
			continue
		}
		if c.status == 202 && sentID == "" {
			var out map[string]string
			_ = json.Unmarshal(rec.Body.Bytes(), &out)
			sentID = out["id"]
		}
		check := v.ValidateHttpRequestResponse
		if c.status == 401 {
			// The request lacks what the document requires on purpose:
			// only the answer is checked.
			check = v.ValidateHttpResponse
		}
		if ok, verrs := check(newReq(), resp); !ok {
			for _, e := range verrs {
				t.Errorf("%s %s → %d: not as documented: %s (%s)", c.method, c.path, resp.StatusCode, e.Message, e.Reason)
			}
		}
	}
	// The message status, and a rate-limited answer with its header.
	for _, want := range []int{200, 429} {
		req := httptest.NewRequest("GET", "http://127.0.0.1:29331/_bizbots/v1/bots/"+bot+"/messages/"+sentID, nil)
		req.Header.Set("Authorization", "Bearer "+a.token)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Fatalf("message status: %d, want %d: %s", rec.Code, want, rec.Body.String())
		}
		if ok, verrs := v.ValidateHttpRequestResponse(req, rec.Result()); !ok {
			for _, e := range verrs {
				t.Errorf("GET message → %d: not as documented: %s (%s)", rec.Code, e.Message, e.Reason)
			}
		}
	}
}

// What bizbots POSTs to a business is the documented WebhookEvent, and
// the documented answer is what it accepts.
func TestWebhookPayloadsMatchOpenAPI(t *testing.T) {
	model, errs := openAPIDoc(t).BuildV3Model()
	if errs != nil {
		t.Fatal(errs)
	}
	schema := func(name string) *schemaRef {
		s := model.Model.Components.Schemas.GetOrZero(name)
		if s == nil {
			t.Fatalf("no schema %s", name)
		}
		return &schemaRef{s.Schema()}
	}
	sv := schema_validation.NewSchemaValidator()
	first, last := time.Now().Add(-time.Hour).UTC(), time.Now().UTC()
	events := []webhook.Event{
		{Type: webhook.TypeConversationStarted, Timestamp: last, Data: webhook.Data{Bot: shopBot, Room: dm,
			Customer: webhook.Customer{ID: alice, DisplayName: "Alice", New: true, Consent: map[string]bool{}}}},
		{Type: webhook.TypeChoice, Timestamp: last, Data: webhook.Data{Bot: shopBot, Room: dm, ReplyURL: "http://127.0.0.1:29331/x",
			Customer: webhook.Customer{ID: alice, DisplayName: "Alice", FirstSeen: &first, LastSeen: &last, Consent: map[string]bool{"messages": true}},
			Message:  &webhook.Message{ID: "$e", Text: "2", Choice: &webhook.Choice{Key: "pasta", Label: "Pasta"}, ReplyTo: "$q"}}},
		{Type: webhook.TypeConversationEnded, Timestamp: last, Data: webhook.Data{Bot: shopBot, Room: dm, Reason: "left",
			Customer: webhook.Customer{ID: alice, DisplayName: "Alice", Consent: map[string]bool{}}}},
		{Type: webhook.TypeCustomerForgotten, Timestamp: last, Data: webhook.Data{Bot: shopBot, Room: dm,
			Customer: webhook.Customer{ID: alice, Consent: map[string]bool{}}}},
		{Type: webhook.TypeTimer, Timestamp: last, Data: webhook.Data{Bot: shopBot, Room: dm,
			Customer: webhook.Customer{ID: alice, Consent: map[string]bool{}}, Timer: &webhook.Timer{Name: "remind", Payload: "x"}}},
	}
	for _, ev := range events {
		raw, _ := json.Marshal(ev)
		if ok, verrs := sv.ValidateSchemaBytes(schema("WebhookEvent").s, raw); !ok {
			for _, e := range verrs {
				t.Errorf("%s event not as documented: %s (%s)", ev.Type, e.Message, e.Reason)
			}
		}
	}
	answer := []byte(`{"replies":[{"text":"Pizza or pasta?","choices":[{"key":"pizza","label":"Pizza"}]},{"text":"**hi**","markdown":true},` +
		`{"text":"Today's special","image":{"url":"https://shop.example/pizza.png","alt":"A margherita"}},{"file":{"url":"mxc://example.org/menu","name":"menu.pdf"}}]}`)
	if ok, verrs := sv.ValidateSchemaBytes(schema("WebhookAnswer").s, answer); !ok {
		t.Errorf("documented answer refused by its own schema: %v", verrs)
	}
	var a webhook.Answer
	if err := json.Unmarshal(answer, &a); err != nil || len(a.Replies) != 4 || len(a.Replies[0].Choices) != 1 || a.Replies[2].Image == nil || a.Replies[3].File == nil {
		t.Errorf("bizbots does not read the documented answer: %+v %v", a, err)
	}
}

type schemaRef struct{ s *base.Schema }
