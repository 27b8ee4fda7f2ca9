package support

import (
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers/handlertest"
)

// After an FAQ answer, "yes thanks" and "thanks!" mean it helped: they
// used to open a ticket (while "yes, thanks" did not).
func TestThanksAfterAnAnswerMeansItHelped(t *testing.T) {
	onEngines(t, func(t *testing.T, opts handlertest.Options) {
		for _, said := range []string{"yes thanks", "yes, thanks", "thanks!", "ja, bedankt", "👍"} {
			d := newDesk(t, DefaultConfig(), opts)
			d.Say("How long does shipping to Belgium take?")
			// Dutch is answered in Dutch.
			if got := handlertest.Text(d.Say(said)); !strings.HasPrefix(got, "Glad I could help!") && !strings.HasPrefix(got, "Fijn dat ik kon helpen!") {
				t.Fatalf("%q after an FAQ answer: %q", said, got)
			}
			if d.ticketCount() != 0 {
				t.Fatalf("%q opened a ticket", said)
			}
		}
	})
}

// A customer can take their ticket back; staff see it in the thread.
func TestCustomerWithdrawsTicket(t *testing.T) {
	onEngines(t, func(t *testing.T, opts handlertest.Options) {
		d := newDesk(t, staffConfig(), opts)
		d.openStaffRoom(map[id.UserID]string{sam: "Sam"})
		d.Say("I was charged twice for order 1234")
		r := d.Say("never mind, solved it")
		if got := handlertest.Text(notIn(r, staffRoom)); !strings.Contains(got, "Withdraw ticket 1") {
			t.Fatalf("withdraw question: %q", got)
		}
		if len(in(r, staffRoom)) != 0 {
			t.Fatalf("the question went to staff: %q", handlertest.Bodies(r))
		}
		r = d.Say("yes")
		if got := handlertest.Text(notIn(r, staffRoom)); got != "Done: I withdrew ticket 1. Ask me anything else any time." {
			t.Fatalf("withdrawn: %q", got)
		}
		if got := handlertest.Text(in(r, staffRoom)); !strings.Contains(got, "Alice withdrew ticket 1") {
			t.Fatalf("staff not told: %q", handlertest.Bodies(r))
		}
		if tk := d.ticket(1); tk.Status != statusClosed {
			t.Fatalf("ticket after withdraw: %+v", tk)
		}
		// "cancel", then "no": the ticket stays open.
		if got := handlertest.Text(notIn(d.Say("I want to talk to a person about my parcel"), staffRoom)); !strings.Contains(got, "opened ticket 2") {
			t.Fatalf("second ticket: %q", got)
		}
		d.Say("cancel")
		if got := handlertest.Text(notIn(d.Say("no"), staffRoom)); got != "OK, ticket 2 stays open." {
			t.Fatalf("kept: %q", got)
		}
		if tk := d.ticket(2); tk.Status == statusClosed {
			t.Fatal("ticket 2 was closed")
		}
	})
}

// ⭐⭐⭐⭐⭐ is a rating of 5.
func TestStarsAreARating(t *testing.T) {
	onEngines(t, func(t *testing.T, opts handlertest.Options) {
		d := newDesk(t, staffConfig(), opts)
		r := d.openStaffRoom(map[id.UserID]string{sam: "Sam"})
		_ = r
		d.Say("I was charged twice for order 1234")
		d.staffSays(sam, "!close 1", "")
		d.Advance(time.Second)
		if got := handlertest.Text(notIn(d.Say("⭐⭐⭐⭐⭐"), staffRoom)); got != "Thank you for your rating!" {
			t.Fatalf("stars: %q", got)
		}
		if tk := d.ticket(1); tk.Rating != 5 {
			t.Fatalf("rating stored: %d", tk.Rating)
		}
	})
}

// The bot introduces itself in a sentence that reads with any business
// name, the default "our shop" included.
func TestHelpIntroducesTheBot(t *testing.T) {
	d := newDesk(t, DefaultConfig())
	if got := handlertest.Text(d.Say("help")); !strings.HasPrefix(got, "I'm the support bot for our shop.") {
		t.Fatalf("help: %q", got)
	}
}

// A Dutch customer gets the whole ticket in Dutch: the wait, its status,
// the close and the rating, withdrawing the next one, and the help.
func TestATicketInDutch(t *testing.T) {
	onEngines(t, func(t *testing.T, opts handlertest.Options) {
		d := newDesk(t, staffConfig(), opts)
		d.openStaffRoom(map[id.UserID]string{sam: "Sam"})
		if got := handlertest.Text(notIn(d.Say("Ik wil een mens spreken over mijn bestelling"), staffRoom)); !strings.Contains(got, "Ik heb ticket 1 voor je geopend") || !strings.Contains(got, "Verwachte wachttijd: ongeveer") || !strings.Contains(got, "minuten") {
			t.Fatalf("ticket opened: %q", got)
		}
		if got := handlertest.Text(notIn(d.Say("status"), staffRoom)); !strings.Contains(got, "Je ticket 1") || !strings.Contains(got, "wacht op een mens") {
			t.Fatalf("status: %q", got)
		}
		if got := handlertest.Text(notIn(d.Say("en het pakket is beschadigd"), staffRoom)); !strings.Contains(got, "Toegevoegd aan je ticket 1") {
			t.Fatalf("added: %q", got)
		}
		r := d.staffSays(sam, "!close 1", "")
		r = append(r, d.Advance(time.Second)...)
		if got := handlertest.Text(notIn(r, staffRoom)); !strings.Contains(got, "heeft ticket 1 gesloten") || !strings.Contains(got, "Geef een cijfer van 1 (slecht) tot 5 (uitstekend)") {
			t.Fatalf("closed: %q", got)
		}
		if got := handlertest.Text(notIn(d.Say("goed"), staffRoom)); got != "Dank je wel voor je beoordeling!" {
			t.Fatalf("rating: %q", got)
		}
		d.Say("Ik wil een mens spreken over mijn factuur")
		if got := handlertest.Text(notIn(d.Say("annuleer"), staffRoom)); !strings.Contains(got, "Ticket 2") || !strings.Contains(got, "intrekken?") {
			t.Fatalf("withdraw question: %q", got)
		}
		if got := handlertest.Text(notIn(d.Say("ja"), staffRoom)); got != "Klaar: ik heb ticket 2 ingetrokken. Vraag gerust iets anders." {
			t.Fatalf("withdrawn: %q", got)
		}
		if got := handlertest.Text(notIn(d.Say("hulp"), staffRoom)); !strings.HasPrefix(got, "Ik ben de klantenservice-bot van") || !strings.Contains(got, `Zeg "mens"`) {
			t.Fatalf("help: %q", got)
		}
	})
}
