package support

import (
	"strings"
	"testing"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers/handlertest"
)

// TestAnotherCustomersTicketIsOutOfReach: Mallory, guessing Alice's
// ticket number, sees nothing of it and cannot add to, close or rate it.
// On both engines.
func TestAnotherCustomersTicketIsOutOfReach(t *testing.T) {
	onEngines(t, func(t *testing.T, opts handlertest.Options) {
		d := newDesk(t, staffConfig(), opts)
		d.openStaffRoom(map[id.UserID]string{sam: "Sam"})
		d.Say("I was charged twice for order 4471")
		m := d.As("@mallory:test", "Mallory")
		for _, text := range []string{"ticket 1", "status", "my ticket", "about ticket 1", "close ticket 1", "5", "rate 1 5", "yes"} {
			r := m.Say(text)
			for _, x := range r {
				if x.Room == staffRoom {
					continue // her own ticket, posted for staff
				}
				for _, secret := range []string{"4471", "charged twice", "Alice"} {
					if strings.Contains(x.Body, secret) {
						t.Fatalf("mallory %q: %q shows %q", text, x.Body, secret)
					}
				}
			}
		}
		tk := d.ticket(1)
		if tk.CustomerID != d.Customer || tk.Status != statusOpen || tk.Rating != 0 || !strings.Contains(tk.Subject, "4471") {
			t.Fatalf("alice's ticket after mallory's tries: %+v", tk)
		}
	})
}
