package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bizbots/bizbots/e2e/harness"
)

// dm is one user's room with one bot (a DM, or a room such as a staff
// room), driven through client.py --interactive.
type dm struct {
	t   testing.TB
	s   *harness.Stack
	cs  *harness.ClientSession
	bot string // @localpart:localhost
	// next is how many of the bot's messages expect has consumed.
	next int
	// lastAction is when say, react or location last sent something.
	lastAction time.Time
}

// registerUser creates an account on the stack's Dendrite (password
// "<localpart>-password") and, if displayName is set, gives it that
// display name (what bots call the user).
func registerUser(t testing.TB, s *harness.Stack, localpart, displayName string) *harness.User {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	u, err := s.Dendrite.RegisterUser(ctx, localpart, localpart+"-password", false)
	if err != nil {
		t.Fatal(err)
	}
	if displayName != "" {
		if err := s.Dendrite.SetDisplayName(ctx, u, displayName); err != nil {
			t.Fatal(err)
		}
	}
	return u
}

// openDM registers user on the stack's Dendrite, starts an interactive
// client that opens a DM with botLocalpart and returns once the bot has
// joined and welcomed. life bounds the client's whole run. The client is
// closed in t.Cleanup, and its output is logged if the test failed.
func openDM(t testing.TB, py string, s *harness.Stack, user, botLocalpart string, life time.Duration) *dm {
	t.Helper()
	registerUser(t, s, user, "")
	return startSession(t, py, s, user, botLocalpart, "", life)
}

// startSession starts an interactive client for an existing user (see
// registerUser): a new DM with botLocalpart, or, with room set, that room
// (the client invites the bot into it). It returns once the bot has joined
// and sent its first message there.
func startSession(t testing.TB, py string, s *harness.Stack, user, botLocalpart, room string, life time.Duration) *dm {
	t.Helper()
	return startSessionWith(t, py, s, user, botLocalpart, room, life)
}

// startSessionWith is startSession with more client.py flags (extra).
func startSessionWith(t testing.TB, py string, s *harness.Stack, user, botLocalpart, room string, life time.Duration, extra ...string) *dm {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return startProgSession(t, py, filepath.Join(root, "e2e", "client.py"), s, user, botLocalpart, room, life, extra...)
}

// startProgSession is startSessionWith for any client that speaks
// client.py's --interactive protocol: prog runs script (client.py with
// Python, e2e/jsclient/client.mjs with Node).
func startProgSession(t testing.TB, prog, script string, s *harness.Stack, user, botLocalpart, room string, life time.Duration, extra ...string) *dm {
	t.Helper()
	bot := s.Dendrite.UserID(botLocalpart)
	cs, err := harness.StartClientSession(prog, script, harness.ClientArgs{
		Homeserver: s.Dendrite.URL, User: user, Password: user + "-password", Bot: bot, Timeout: life, Room: room,
		Extra: extra,
	})
	if err != nil {
		if cs != nil {
			out, errOut := cs.Output()
			t.Fatalf("%s (%s) did not get ready: %v\nstderr:\n%s\nstdout:\n%s", filepath.Base(script), user, err, errOut, out)
		}
		t.Fatalf("%s (%s): %v", filepath.Base(script), user, err)
	}
	t.Cleanup(func() {
		res := cs.Close()
		if res.Err != nil {
			t.Errorf("%s (%s): %v\nstderr:\n%s", filepath.Base(script), user, res.Err, res.Stderr)
		}
		if t.Failed() {
			t.Logf("%s (%s) output:\n%s", filepath.Base(script), user, res.Stdout)
		}
	})
	return &dm{t: t, s: s, cs: cs, bot: bot}
}

// botMessages are the bot's messages so far, welcome first.
func (d *dm) botMessages() []harness.ClientLine { return d.cs.Messages(d.bot) }

// echo is what the echo service (the @echo bot of the default config)
// answers to body.
func echo(body string) string { return "You said: " + body }

// msg is the text of numbered message n.
func msg(n int) string { return fmt.Sprintf("message %d", n) }

// waitReplies waits until the bot has answered message 1 … message n (each
// at least once, in any order so far) and returns its messages.
func (d *dm) waitReplies(n int, timeout time.Duration) ([]harness.ClientLine, error) {
	lines, err := d.cs.WaitFor(timeout, fmt.Sprintf("replies to messages 1..%d", n), func(ls []harness.ClientLine) bool {
		got := map[string]bool{}
		for _, m := range harness.MessagesFrom(ls, d.bot) {
			got[m.Body] = true
		}
		for i := 1; i <= n; i++ {
			if !got[echo(msg(i))] {
				return false
			}
		}
		return true
	})
	return harness.MessagesFrom(lines, d.bot), err
}

// waitReplyCount waits until the bot has sent at least n messages after its
// welcome.
func (d *dm) waitReplyCount(n int, timeout time.Duration) error {
	_, err := d.cs.WaitFor(timeout, fmt.Sprintf("%d replies", n), func(ls []harness.ClientLine) bool {
		return len(harness.MessagesFrom(ls, d.bot)) >= n+1
	})
	return err
}

// explainDuplicates logs, for every reply body the bot sent more than
// once, the Dendrite and bizbots log lines of the Matrix transaction ids
// (the PUT …/send/m.room.message/{txnId} of each copy), so a failure shows
// whether the copies came from one outbox row resent (a homeserver that did
// not deduplicate the txn id) or from two rows (bizbots handled the event
// twice).
func explainDuplicates(t testing.TB, s *harness.Stack, msgs []harness.ClientLine) {
	t.Helper()
	byBody := map[string][]string{}
	for _, m := range msgs {
		byBody[m.Body] = append(byBody[m.Body], m.EventID)
	}
	dlog, _ := os.ReadFile(s.Dendrite.LogPath)
	blog, _ := os.ReadFile(filepath.Join(s.Dir, "bizbots.log"))
	dlines := strings.Split(string(dlog), "\n")
	blines := strings.Split(string(blog), "\n")
	grep := func(lines []string, needle string) []string {
		var out []string
		for _, l := range lines {
			if needle != "" && strings.Contains(l, needle) {
				out = append(out, l)
			}
		}
		return out
	}
	for body, ids := range byBody {
		if len(ids) < 2 {
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%q arrived %d times: %s\n", body, len(ids), strings.Join(ids, ", "))
		txns := map[string]bool{}
		for _, id := range ids {
			for _, l := range grep(dlines, id) {
				if _, after, ok := strings.Cut(l, "/send/m.room.message/"); ok {
					txn, _, _ := strings.Cut(after, `"`)
					txns[txn] = true
				}
			}
		}
		if len(txns) == 0 {
			b.WriteString("  (no Dendrite log line names these event ids: a request that failed in Dendrite's eyes yet created the event?)\n")
		}
		for txn := range txns {
			fmt.Fprintf(&b, "  txn %s — Dendrite:\n", txn)
			for _, l := range grep(dlines, "/send/m.room.message/"+txn+`"`) {
				b.WriteString("    " + l + "\n")
			}
			b.WriteString("  bizbots:\n")
			for _, l := range grep(blines, `"`+txn+`"`) {
				b.WriteString("    " + l + "\n")
			}
		}
		t.Log(b.String())
	}
}

// checkExactReplies checks that the bot's messages are its welcome and then
// exactly echo(message 1) … echo(message n), in order: nothing missing,
// nothing doubled, nothing else.
func checkExactReplies(t testing.TB, bot string, msgs []harness.ClientLine, n int) {
	t.Helper()
	if len(msgs) == 0 {
		t.Fatalf("no messages at all from %s", bot)
	}
	if strings.HasPrefix(msgs[0].Body, "You said:") {
		t.Errorf("first message from %s is %q, want the welcome", bot, msgs[0].Body)
	}
	replies := msgs[1:]
	count := map[string]int{}
	for _, r := range replies {
		count[r.Body]++
	}
	var missing, doubled []string
	for i := 1; i <= n; i++ {
		switch c := count[echo(msg(i))]; {
		case c == 0:
			missing = append(missing, msg(i))
		case c > 1:
			doubled = append(doubled, fmt.Sprintf("%s (x%d)", msg(i), c))
		}
	}
	if len(missing) > 0 {
		t.Errorf("LOST: no reply from %s to %d message(s): %s", bot, len(missing), strings.Join(missing, ", "))
	}
	if len(doubled) > 0 {
		t.Errorf("DOUBLED: %s answered %d message(s) more than once: %s", bot, len(doubled), strings.Join(doubled, ", "))
	}
	if len(replies) != n {
		t.Errorf("%s sent %d messages after its welcome, want exactly %d", bot, len(replies), n)
	}
	for i, r := range replies {
		if i >= n {
			t.Errorf("extra message %d from %s: %q (%s)", i+1, bot, r.Body, r.EventID)
			continue
		}
		if want := echo(msg(i + 1)); r.Body != want {
			// Only the first: after one is out of place, all are.
			t.Errorf("ORDER: reply %d from %s = %q (%s), want %q", i+1, bot, r.Body, r.EventID, want)
			break
		}
	}
}

// keycaps are the reactions bizbots puts under a question's options.
var keycaps = []string{"1️⃣", "2️⃣", "3️⃣", "4️⃣", "5️⃣", "6️⃣", "7️⃣", "8️⃣", "9️⃣", "🔟"}

// flowTimeout bounds each wait for one answer of a bot in the flows.
const flowTimeout = 45 * time.Second

// actionGap is the least time between two actions (messages, reactions)
// of the user in the flows: a person's pace. The business bots limit each
// customer to 10 events at once, then one a second (handlers.RateLimit(1,
// 10)), and answer a faster client with "You're sending messages faster
// than I can answer" instead of handling the event.
const actionGap = time.Second

// pace waits until actionGap has passed since the user's last action.
func (d *dm) pace() {
	if wait := actionGap - time.Since(d.lastAction); wait > 0 {
		time.Sleep(wait)
	}
	d.lastAction = time.Now()
}

// say sends text as the user.
func (d *dm) say(text string) {
	d.t.Helper()
	d.pace()
	if err := d.cs.Send(text); err != nil {
		d.t.Fatalf("send %q: %v", text, err)
	}
}

// location shares a location (m.location) as the user.
func (d *dm) location(geoURI, description string) {
	d.t.Helper()
	d.pace()
	if err := d.cs.SendLocation(geoURI, description); err != nil {
		d.t.Fatalf("send location %s: %v", geoURI, err)
	}
}

// sayInThread sends text as the user in the thread of root.
func (d *dm) sayInThread(root, text string) {
	d.t.Helper()
	d.pace()
	if err := d.cs.SendThread(root, text); err != nil {
		d.t.Fatalf("send %q in thread %s: %v", text, root, err)
	}
}

// expect waits up to timeout for a message from the bot, newer than the
// ones expect returned before, that contains every one of parts; it
// returns it and consumes it and the bot's messages before it.
func (d *dm) expect(timeout time.Duration, parts ...string) harness.ClientLine {
	d.t.Helper()
	return d.expectMatch(timeout, fmt.Sprintf("a message from %s with %q", d.bot, parts), func(l harness.ClientLine) bool {
		for _, p := range parts {
			if !strings.Contains(l.Body, p) {
				return false
			}
		}
		return true
	})
}

// expectMatch is expect with a condition on the message.
func (d *dm) expectMatch(timeout time.Duration, what string, match func(harness.ClientLine) bool) harness.ClientLine {
	d.t.Helper()
	var found harness.ClientLine
	idx := -1
	_, err := d.cs.WaitFor(timeout, what, func(ls []harness.ClientLine) bool {
		msgs := harness.MessagesFrom(ls, d.bot)
		for i := d.next; i < len(msgs); i++ {
			if match(msgs[i]) {
				found, idx = msgs[i], i
				return true
			}
		}
		return false
	})
	if err != nil {
		msgs := d.botMessages()
		var b strings.Builder
		for i := d.next; i < len(msgs); i++ {
			fmt.Fprintf(&b, "  %q\n", msgs[i].Body)
		}
		d.t.Fatalf("%v\n%s's messages since the last expected one:\n%s", err, d.bot, b.String())
	}
	d.next = idx + 1
	return found
}

// react clicks option n (1-based) of the bot's question q: it waits until
// the bot's own keycap reaction n is under q (the bot adds them after
// the question is stored as sent, so bizbots can map the click back to the
// question) and then reacts with the same key.
func (d *dm) react(q harness.ClientLine, n int) {
	d.t.Helper()
	key := keycaps[n-1]
	if _, err := d.cs.WaitFor(flowTimeout, fmt.Sprintf("%s's reaction %s under %s", d.bot, key, q.EventID), func(ls []harness.ClientLine) bool {
		for _, l := range ls {
			if l.Kind == "event" && l.Type == "m.reaction" && l.Sender == d.bot && l.RelatesTo == q.EventID && l.Key == key {
				return true
			}
		}
		return false
	}); err != nil {
		d.t.Fatal(err)
	}
	d.pace()
	if err := d.cs.React(q.EventID, key); err != nil {
		d.t.Fatalf("react %s: %v", key, err)
	}
}

// checkNoApology fails the test if the bot ever said something went wrong
// on its side (a handler error) or that the user was too fast.
func (d *dm) checkNoApology() {
	d.t.Helper()
	for _, m := range d.botMessages() {
		if strings.Contains(m.Body, "something went wrong") || strings.Contains(m.Body, "faster than I can answer") {
			d.t.Errorf("%s: %q", d.bot, m.Body)
		}
	}
}
