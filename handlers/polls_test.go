package handlers_test

import (
	"strings"
	"testing"

	"github.com/bizbots/bizbots/handlers/handlertest"
)

func vote(h *handlertest.Harness, poll handlertest.Reply, eventType, answer string) []handlertest.Reply {
	content := map[string]any{"m.relates_to": map[string]any{"rel_type": "m.reference", "event_id": poll.EventID.String()}}
	if eventType == "m.poll.response" {
		content["m.selections"] = []string{answer}
	} else {
		content["org.matrix.msc3381.poll.response"] = map[string]any{"answers": []string{answer}}
	}
	return h.Send(eventType, content)
}

// A bot with polls asks as a poll (the numbered text kept for clients
// without polls); a vote, as Element sends it or in the stable form,
// is the choice; a vote on an old poll changes nothing.
func TestQuestionAsAPoll(t *testing.T) {
	eachEngine(t, func(t *testing.T, uri string) {
		h := handlertest.New(t, pizzaFlow(), handlertest.Options{URI: uri, Polls: true})
		r := h.Say("order")
		if len(r) != 1 || r[0].Type != "org.matrix.msc3381.poll.start" || len(r[0].Reactions) != 0 {
			t.Fatalf("want one poll and no reactions: %+v", r)
		}
		poll, _ := r[0].Content["org.matrix.msc3381.poll.start"].(map[string]any)
		answers, _ := poll["answers"].([]any)
		if len(answers) != 3 || !strings.Contains(r[0].Body, "1. Small") || !strings.Contains(r[0].Body, "Reply with a number.") {
			t.Fatalf("poll content: %v, fallback %q", poll, r[0].Body)
		}
		if got := handlertest.Text(vote(h, r[0], "org.matrix.msc3381.poll.response", "3")); got != "Address?" {
			t.Fatalf("after voting Large: %q", got)
		}
		var st struct{ Size string }
		h.State(&st)
		if st.Size != "l" {
			t.Fatalf("size %q, want l", st.Size)
		}
		h.Say("Damrak 1")
		// The old poll has moved on; the new one takes a stable vote.
		if got := handlertest.Text(vote(h, r[0], "org.matrix.msc3381.poll.response", "1")); !strings.Contains(got, "moved on") {
			t.Fatalf("vote on an old poll: %q", got)
		}
		r2 := h.Say("order")
		if got := handlertest.Text(vote(h, r2[0], "m.poll.response", "2")); got != "Address?" {
			t.Fatalf("stable vote: %q", got)
		}
		h.State(&st)
		if st.Size != "m" {
			t.Fatalf("size %q, want m", st.Size)
		}
	})
}

// Without polls: (the default) the question is text with reactions.
func TestNoPollsByDefault(t *testing.T) {
	h := handlertest.New(t, pizzaFlow())
	r := h.Say("order")
	if len(r) != 1 || r[0].Type != "m.room.message" || len(r[0].Reactions) != 3 {
		t.Fatalf("want a text question with reactions: %+v", r)
	}
}
