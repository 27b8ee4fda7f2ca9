package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// An agent uses the inbox and conversations but is refused every owner
// page and action with a 403 page that says why; nothing changes.
func TestAgentIsRefusedOwnerPages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		c, csrf := e.signIn(t, bob) // pizza's agent
		for _, path := range []string{"/b/pizza/saved"} {
			status, page := c.get(t, path)
			if status != http.StatusForbidden || !strings.Contains(page, "Only the bot&#39;s owners can use this page") {
				t.Errorf("GET %s as an agent: %d\n%s", path, status, page)
			}
		}
		for _, path := range []string{"/b/pizza/saved", "/b/pizza/saved/1", "/b/pizza/saved/1/delete"} {
			if status, _ := c.post(t, path, url.Values{"csrf": {csrf}, "title": {"Hours"}, "body": {"We open at 11."}}); status != http.StatusForbidden {
				t.Errorf("POST %s as an agent: %d, want 403", path, status)
			}
		}
		if n := count(t, db, `SELECT count(*) FROM console_saved_replies`); n != 0 {
			t.Fatalf("an agent's refused form stored %d saved replies", n)
		}
		// The navigation does not offer agents what they cannot use.
		_, page := c.get(t, "/b/pizza/")
		if strings.Contains(page, `href="/b/pizza/saved"`) {
			t.Error("the agent's navigation links to the saved replies page")
		}
		if n := strings.Count(page, `<nav `); n != 1 || !strings.Contains(page, `href="/b/pizza/orders"`) {
			t.Errorf("the agent's page has %d navigation bars, want one with the orders board", n)
		}
		// Staff of another bot get the 404 that hides the bot.
		o, _ := e.signIn(t, carol)
		if status, _ := o.get(t, "/b/pizza/saved"); status != http.StatusNotFound {
			t.Errorf("another bot's owner: %d, want 404", status)
		}
	})
}

func TestSavedReplies(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		owner, ocsrf := e.signIn(t, alice)
		add := func(title, body string) (int, string) {
			return owner.post(t, "/b/pizza/saved", url.Values{"csrf": {ocsrf}, "title": {title}, "body": {body}})
		}
		if status, page := add("Opening hours", "We are open from 11:00 to 23:00 every day."); status != 200 || !strings.Contains(page, "Saved reply added") {
			t.Fatalf("add: %d\n%s", status, page)
		}
		if status, page := add("Opening hours", "again"); status != http.StatusConflict || !strings.Contains(page, "already a saved reply called") {
			t.Fatalf("duplicate title: %d", status)
		}
		if status, _ := add("", "no title"); status != http.StatusBadRequest {
			t.Fatalf("no title: %d", status)
		}
		if status, _ := add("Long", strings.Repeat("x", 4001)); status != http.StatusBadRequest {
			t.Fatalf("too long: %d", status)
		}
		if status, _ := owner.post(t, "/b/pizza/saved", url.Values{"csrf": {"forged"}, "title": {"x"}, "body": {"y"}}); status != http.StatusForbidden {
			t.Fatalf("forged form: %d", status)
		}
		var id string
		if err := db.QueryRow(`SELECT CAST(id AS TEXT) FROM console_saved_replies`).Scan(&id); err != nil {
			t.Fatal(err)
		}
		if status, page := owner.post(t, "/b/pizza/saved/"+id, url.Values{"csrf": {ocsrf}, "title": {"Opening hours"},
			"body": {"We are open from 11:00 to 22:00 every day."}}); status != 200 || !strings.Contains(page, "22:00") {
			t.Fatalf("change: %d\n%s", status, page)
		}
		// Another bot's owner cannot touch it, even knowing its id.
		carolC, ccsrf := e.signIn(t, carol)
		if status, _ := carolC.post(t, "/b/taxi/saved/"+id+"/delete", url.Values{"csrf": {ccsrf}}); status != http.StatusNotFound {
			t.Fatalf("delete through another bot: %d, want 404", status)
		}

		// The agent inserts it into a reply (no JavaScript: ?use=) and sends it.
		agent, acsrf := e.signIn(t, bob)
		agent.takeOver(t, acsrf)
		_, page := agent.get(t, convPath("pizza", room))
		if !strings.Contains(page, `?use=`+id+`#reply-text`) || !strings.Contains(page, "Opening hours") {
			t.Fatalf("the conversation does not offer the saved reply:\n%s", page)
		}
		_, page = agent.get(t, convPath("pizza", room)+"?use="+id)
		if !strings.Contains(page, `required>We are open from 11:00 to 22:00 every day.</textarea>`) {
			t.Fatalf("the reply box does not hold the saved reply:\n%s", page)
		}
		form := url.Values{"csrf": {acsrf}, "token": {hidden(t, page, "token")}, "text": {"We are open from 11:00 to 22:00 every day."}}
		if status, _ := agent.post(t, convPath("pizza", room)+"/reply", form); status != 200 {
			t.Fatalf("send: %d", status)
		}
		got := outbox(t, db, room)
		if got[len(got)-1] != "m.text|We are open from 11:00 to 22:00 every day." {
			t.Fatalf("sent %q", got)
		}
		if status, page := owner.post(t, "/b/pizza/saved/"+id+"/delete", url.Values{"csrf": {ocsrf}}); status != 200 || !strings.Contains(page, "None yet") {
			t.Fatalf("delete: %d\n%s", status, page)
		}
	})
}
