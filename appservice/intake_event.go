package appservice

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/bizbots/bizbots/store"
)

// Why intake drops an event instead of storing it (the reason label of
// bizbots_intake_dropped_events_total). Refusing the whole transaction
// would make the homeserver resend it forever and hold up everything
// behind it, so a bad event is dropped alone and the rest is stored.
const (
	// dropMalformed: not a JSON object, or no event_id, room_id or type
	// (it could not be deduplicated or ordered).
	dropMalformed = "malformed"
	// dropNoSender: no sender, so nobody to answer; handling it as a
	// customer "" would mix it up with every other such event.
	dropNoSender = "no_sender"
	// dropInvalidID: an id, type or state key the Matrix grammar does not
	// allow: over 255 bytes, without its sigil, or with control characters
	// or invalid UTF-8 (which Postgres refuses and SQLite cuts at a NUL).
	dropInvalidID = "invalid_id"
)

// maxIDBytes is the spec's limit on event ids, room ids, user ids, event
// types and state keys.
const maxIDBytes = 255

// maxTS is the largest origin_server_ts taken as given: the largest
// integer JSON carries exactly (canonical JSON's limit).
const maxTS = 1<<53 - 1

// eventHeader is the part of an event intake needs to file it.
type eventHeader struct {
	EventID  string          `json:"event_id"`
	RoomID   string          `json:"room_id"`
	Sender   string          `json:"sender"`
	Type     string          `json:"type"`
	StateKey *string         `json:"state_key"`
	OriginTS json.RawMessage `json:"origin_server_ts"`
}

// parseEvent checks one event of a transaction and returns what the inbox
// stores, or why it is dropped. Events with NUL or invalid UTF-8 in their
// content, or an origin_server_ts that is not a sane integer (a float, a
// negative or huge number), are stored re-encoded with the text cleaned
// (store.Clean) and the time made an integer, so the dispatcher can
// always read them and every engine stores the same thing. now (Unix ms)
// stands in for a time that cannot be used.
func parseEvent(raw json.RawMessage, now int64) (store.IncomingEvent, string) {
	var h eventHeader
	if err := json.Unmarshal(raw, &h); err != nil || h.EventID == "" || h.RoomID == "" || h.Type == "" {
		return store.IncomingEvent{}, dropMalformed
	}
	if h.Sender == "" {
		return store.IncomingEvent{}, dropNoSender
	}
	if !validID(h.EventID, '$') || !validID(h.RoomID, '!') || !validID(h.Sender, '@') ||
		!validText(h.Type) || (h.StateKey != nil && !validText(*h.StateKey)) {
		return store.IncomingEvent{}, dropInvalidID
	}
	ts, tsOK := originTS(h.OriginTS, now)
	if !tsOK || !utf8.Valid(raw) || bytes.Contains(raw, []byte(`\u0000`)) {
		clean, err := reencode(raw, ts)
		if err != nil {
			return store.IncomingEvent{}, dropMalformed
		}
		raw = clean
	}
	return store.IncomingEvent{
		EventID: h.EventID, RoomID: h.RoomID, Sender: h.Sender, Type: h.Type,
		StateKey: h.StateKey, OriginTS: ts, JSON: raw,
	}, ""
}

// originTS reads origin_server_ts; ok is false when the event must be
// re-encoded with the returned value: a float is cut to whole
// milliseconds, a value that is negative, too large or not a number is
// replaced by now. An absent one stays absent (0).
func originTS(raw json.RawMessage, now int64) (ts int64, ok bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, true
	}
	if i, err := strconv.ParseInt(string(raw), 10, 64); err == nil && i >= 0 && i <= maxTS {
		return i, true
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err == nil && !math.IsNaN(f) && f >= 0 && f <= maxTS {
		return int64(f), false
	}
	return now, false
}

// reencode decodes an event, cleans every string in it (keys too) and
// encodes it again with origin_server_ts set to ts. Numbers keep their
// text; HTML characters are not escaped (the content stays as sent).
func reencode(raw json.RawMessage, ts int64) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, err
	}
	obj = cleanJSON(obj).(map[string]any)
	obj["origin_server_ts"] = ts
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(obj); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

func cleanJSON(v any) any {
	switch v := v.(type) {
	case string:
		return store.Clean(v)
	case []any:
		for i := range v {
			v[i] = cleanJSON(v[i])
		}
		return v
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[store.Clean(k)] = cleanJSON(x)
		}
		return out
	}
	return v
}

// validID: sigil, then at most 255 bytes of valid text in all.
func validID(s string, sigil byte) bool {
	return len(s) >= 2 && s[0] == sigil && validText(s)
}

// validText: at most 255 bytes, valid UTF-8 (the JSON decoder turns
// invalid bytes into U+FFFD), no control characters.
func validText(s string) bool {
	if len(s) > maxIDBytes {
		return false
	}
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// txnKey is the transaction id as recorded: the id itself when it is
// storable text, else a digest of it. A homeserver may use any string
// (very long, NUL, invalid UTF-8); Postgres refuses such a key, which
// answered 500 on every retry and held up every later transaction. The
// digest keeps deduplication exact.
func txnKey(txnID string) string {
	if validText(txnID) {
		return txnID
	}
	sum := sha256.Sum256([]byte(txnID))
	return "sha256:" + hex.EncodeToString(sum[:])
}
