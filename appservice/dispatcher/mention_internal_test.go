package dispatcher

import (
	"encoding/json"
	"testing"

	"maunium.net/go/mautrix/event"

	"github.com/bizbots/bizbots/config"
)

func TestMentions(t *testing.T) {
	bot := &Bot{UserID: "@pizza:example.org", Config: config.Bot{DisplayName: "Pizza Place"}}
	for _, tc := range []struct {
		content string
		want    bool
	}{
		{`{"msgtype":"m.text","body":"hey Pizza Place, a menu?"}`, true},
		{`{"msgtype":"m.text","body":"@pizza:example.org menu"}`, true},
		{`{"msgtype":"m.text","body":"I love pizza places"}`, false},
		{`{"msgtype":"m.text","body":"pizza place"}`, true},
		{`{"msgtype":"m.text","body":"x","format":"org.matrix.custom.html","formatted_body":"<a href=\"https://matrix.to/#/@pizza:example.org\">P</a>"}`, true},
		// With m.mentions the client said whom it means: the body is not read.
		{`{"msgtype":"m.text","body":"Pizza Place is closed?","m.mentions":{}}`, false},
		{`{"msgtype":"m.text","body":"hi","m.mentions":{"user_ids":["@pizza:example.org"]}}`, true},
	} {
		evt := &event.Event{Type: event.EventMessage}
		if err := json.Unmarshal([]byte(tc.content), &evt.Content.VeryRaw); err != nil {
			t.Fatal(err)
		}
		if err := evt.Content.ParseRaw(evt.Type); err != nil {
			t.Fatal(err)
		}
		if got := mentions(evt, bot); got != tc.want {
			t.Errorf("%s: mentions = %v, want %v", tc.content, got, tc.want)
		}
	}
}
