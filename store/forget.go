package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// minNameRunes is the shortest display name searched for in the text of
// staff-room posts and events: shorter ones ("Al") would match unrelated
// words, and blank other customers' messages with them.
const minNameRunes = 3

// ForgetCustomer erases every copy of a customer's data that the
// framework keeps for one business (bot), in the caller's transaction:
//
//   - the customer row, conversation states, history and timers;
//   - the bot's messages in the customer's direct chats, those answering
//     the customer's events (a staff-room post of their order or ticket
//     included), and those naming them (their id anywhere; their display
//     name in rooms they are not in, such as a staff room). Sent rows are
//     emptied, so exactly-once bookkeeping still holds; unsent ones are
//     deleted, since nothing about the customer may go out any more;
//   - the handled events the customer sent, events about them and events
//     naming them, in rooms of this bot: content, sender and notes
//     emptied, the event id kept so a homeserver replay is still a no-op;
//   - their membership rows in the bot's rooms (a random placeholder
//     keeps the member count that tells a direct chat from a group),
//     their id as the inviter of the bot, and history rows naming them
//     (their id; their name, as a whole word, in a staff member's).
//
// staffRoom tells the bot's staff rooms (nil: none). Names are searched
// only there: elsewhere a name ("Ana") is too likely to be part of other
// customers' messages ("banana").
//
// Events not yet handled are left alone: they come after the request and
// are handled as a new customer's. What remains is one anonymous count
// per bot (ForgottenCount). A service's own tables are its Forgetter's.
func ForgetCustomer(ctx context.Context, q Querier, bot, user string, staffRoom func(room string) bool) error {
	if user == "" {
		return fmt.Errorf("forget customer: no customer id")
	}
	names, err := customerNames(ctx, q, bot, user)
	if err != nil {
		return err
	}
	idLike := likePatterns(user)
	// Outbox first: finding what the customer caused reads the inbox
	// rows that are anonymised next. The rows: the bot's, in a direct
	// chat of the customer's (a room of the bot where nobody else was
	// ever seen), or answering an event they caused (theirs, or a timer
	// of their conversation: a fired timer's sender is its customer), or
	// with their id.
	idMatch, args := orLike("content", idLike, 3)
	outboxWhere := `bot_user_id = $1 AND (
		room_id IN (SELECT m.room_id FROM room_members m
			WHERE m.room_id IN (SELECT room_id FROM bot_rooms WHERE bot_user_id = $1) AND m.user_id = $2
			  AND NOT EXISTS (SELECT 1 FROM room_members o WHERE o.room_id = m.room_id AND o.user_id <> $2))
		OR cause_event_id IN (SELECT event_id FROM inbox
			WHERE room_id IN (SELECT room_id FROM bot_rooms WHERE bot_user_id = $1) AND sender = $2)
		OR ` + idMatch + `)`
	all := append([]any{bot, user}, args...)
	if _, err := q.ExecContext(ctx, `DELETE FROM outbox WHERE status = 'pending' AND `+outboxWhere, all...); err != nil {
		return fmt.Errorf("forget customer: unsent messages: %w", err)
	}
	if _, err := q.ExecContext(ctx, `UPDATE outbox SET content = '{}', meta = '', last_error = ''
		WHERE status <> 'pending' AND `+outboxWhere, all...); err != nil {
		return fmt.Errorf("forget customer: sent messages: %w", err)
	}
	if err := forgetNamedInStaffRooms(ctx, q, bot, names, staffRoom); err != nil {
		return err
	}

	// SQLite numbers placeholders by first use: $1 must come first.
	var nameLike []string
	for _, n := range names {
		nameLike = append(nameLike, likePatterns(n)...)
	}
	// Handled events are only kept to recognise a resend: erasing one
	// that merely contains the name loses nothing, so names are
	// searched in every room of the bot here.
	match, args := orLike("event", append(idLike, nameLike...), 3)
	all = append([]any{user, bot}, args...)
	if _, err := q.ExecContext(ctx, `UPDATE inbox SET event = '{}', sender = '', last_error = '',
			state_key = CASE WHEN state_key = $1 THEN '' ELSE state_key END
		WHERE status <> 'pending' AND (room_id IN (SELECT room_id FROM bot_rooms WHERE bot_user_id = $2) OR state_key = $2)
		  AND (sender = $1 OR state_key = $1 OR `+match+`)`, all...); err != nil {
		return fmt.Errorf("forget customer: received events: %w", err)
	}

	// Other people's history with the bot that has the customer's id.
	match, args = orLike("summary", idLike, 2)
	dataMatch, args := orLike("data", idLike, 2, args...)
	if _, err := q.ExecContext(ctx, `DELETE FROM customer_history WHERE bot_user_id = $1 AND (`+match+` OR `+dataMatch+`)`,
		append([]any{bot}, args...)...); err != nil {
		return fmt.Errorf("forget customer: history naming them: %w", err)
	}

	if err := forgetMemberships(ctx, q, bot, user); err != nil {
		return err
	}
	stmts := []string{
		`UPDATE bot_rooms SET inviter = '' WHERE bot_user_id = $1 AND inviter = $2`,
		`DELETE FROM customers WHERE bot_user_id = $1 AND user_id = $2`,
		`DELETE FROM conversation_state WHERE bot_user_id = $1 AND user_id = $2`,
		`DELETE FROM customer_history WHERE bot_user_id = $1 AND user_id = $2`,
		`DELETE FROM timers WHERE bot_user_id = $1 AND user_id = $2`,
		`DELETE FROM console_broadcast_recipients
			WHERE broadcast_id IN (SELECT id FROM console_broadcasts WHERE bot_user_id = $1) AND user_id = $2`,
	}
	for _, s := range stmts {
		if _, err := q.ExecContext(ctx, s, bot, user); err != nil {
			return fmt.Errorf("forget customer: %w", err)
		}
	}
	_, err = q.ExecContext(ctx, `INSERT INTO bb_meta (key, value) VALUES ($1, '1')
		ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(bb_meta.value AS INTEGER) + 1 AS TEXT)`, forgottenKey(bot))
	if err != nil {
		return fmt.Errorf("forget customer: count: %w", err)
	}
	return nil
}

// ForgottenCount is how many times customers asked bot to forget them:
// the only trace forget-me leaves.
func ForgottenCount(ctx context.Context, q Querier, bot string) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT CAST(value AS INTEGER) FROM bb_meta WHERE key = $1`, forgottenKey(bot)).Scan(&n)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("read forget count: %w", err)
	}
	return n, nil
}

func forgottenKey(bot string) string { return "forgotten_customers:" + bot }

// customerNames lists the display names the customer is known by to the
// bot, long enough to search for.
func customerNames(ctx context.Context, q Querier, bot, user string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT display_name FROM customers WHERE bot_user_id = $1 AND user_id = $2
		UNION SELECT display_name FROM room_members WHERE user_id = $2
			AND room_id IN (SELECT room_id FROM bot_rooms WHERE bot_user_id = $1)`, bot, user)
	if err != nil {
		return nil, fmt.Errorf("forget customer: names: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		if n = strings.TrimSpace(n); utf8.RuneCountInString(n) >= minNameRunes {
			out = append(out, n)
		}
	}
	return out, rows.Err()
}

// forgetNamedInStaffRooms erases what names the customer in the bot's
// staff rooms: the bot's posts there ("Reply in its thread to answer
// Zed"), and the history of the rooms' members (a staff member's "Hi
// Zed, I'm on it"). Candidates are found with LIKE, then kept only where
// a name stands as a whole word, case and all.
func forgetNamedInStaffRooms(ctx context.Context, q Querier, bot string, names []string, staffRoom func(string) bool) error {
	if len(names) == 0 || staffRoom == nil {
		return nil
	}
	var like []string
	for _, n := range names {
		like = append(like, likePatterns(n)...)
	}
	match, args := orLike("content", like, 2)
	rows, err := q.QueryContext(ctx, `SELECT id, room_id, status, content FROM outbox WHERE bot_user_id = $1 AND `+match,
		append([]any{bot}, args...)...)
	if err != nil {
		return fmt.Errorf("forget customer: staff-room posts: %w", err)
	}
	var sent, unsent []int64
	for rows.Next() {
		var id int64
		var room, status, content string
		if err := rows.Scan(&id, &room, &status, &content); err != nil {
			rows.Close()
			return err
		}
		if !staffRoom(room) || !namesAnyOf(content, names) {
			continue
		}
		if status == "pending" {
			unsent = append(unsent, id)
		} else {
			sent = append(sent, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range sent {
		if _, err := q.ExecContext(ctx, `UPDATE outbox SET content = '{}', meta = '', last_error = '' WHERE id = $1`, id); err != nil {
			return fmt.Errorf("forget customer: staff-room post: %w", err)
		}
	}
	for _, id := range unsent {
		if _, err := q.ExecContext(ctx, `DELETE FROM outbox WHERE id = $1`, id); err != nil {
			return fmt.Errorf("forget customer: staff-room post: %w", err)
		}
	}

	staff := map[string]bool{}
	rows, err = q.QueryContext(ctx, `SELECT room_id, user_id FROM room_members
		WHERE room_id IN (SELECT room_id FROM bot_rooms WHERE bot_user_id = $1)`, bot)
	if err != nil {
		return fmt.Errorf("forget customer: staff: %w", err)
	}
	for rows.Next() {
		var room, member string
		if err := rows.Scan(&room, &member); err != nil {
			rows.Close()
			return err
		}
		if staffRoom(room) {
			staff[member] = true
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	match, args = orLike("summary", like, 2)
	rows, err = q.QueryContext(ctx, `SELECT id, user_id, summary FROM customer_history WHERE bot_user_id = $1 AND `+match,
		append([]any{bot}, args...)...)
	if err != nil {
		return fmt.Errorf("forget customer: staff history: %w", err)
	}
	var drop []int64
	for rows.Next() {
		var id int64
		var member, summary string
		if err := rows.Scan(&id, &member, &summary); err != nil {
			rows.Close()
			return err
		}
		if staff[member] && namesAnyOf(summary, names) {
			drop = append(drop, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range drop {
		if _, err := q.ExecContext(ctx, `DELETE FROM customer_history WHERE id = $1`, id); err != nil {
			return fmt.Errorf("forget customer: staff history: %w", err)
		}
	}
	return nil
}

// namesAnyOf reports whether one of names stands in text as a whole word
// (as written, or as JSON writes it).
func namesAnyOf(text string, names []string) bool {
	for _, n := range names {
		enc, _ := json.Marshal(n)
		for _, form := range []string{n, string(enc[1 : len(enc)-1])} {
			if wholeWord(text, form) {
				return true
			}
		}
	}
	return false
}

// wholeWord reports whether word occurs in text not as part of a longer
// word ("Ana" in "Hi Ana!", not in "banana").
func wholeWord(text, word string) bool {
	for i := 0; i <= len(text)-len(word); {
		j := strings.Index(text[i:], word)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(word)
		before, _ := utf8.DecodeLastRuneInString(text[:start])
		after, _ := utf8.DecodeRuneInString(text[end:])
		if (start == 0 || !isWordRune(before)) && (end == len(text) || !isWordRune(after)) {
			return true
		}
		i = start + 1
	}
	return false
}

func isWordRune(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

// forgetMemberships replaces the customer's id in the bot's rooms'
// member lists by a random placeholder (not a Matrix id, so it can never
// be taken for someone) and drops their display name.
func forgetMemberships(ctx context.Context, q Querier, bot, user string) error {
	rows, err := q.QueryContext(ctx, `SELECT room_id FROM room_members WHERE user_id = $1
		AND room_id IN (SELECT room_id FROM bot_rooms WHERE bot_user_id = $2)`, user, bot)
	if err != nil {
		return fmt.Errorf("forget customer: memberships: %w", err)
	}
	var rooms []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			rows.Close()
			return err
		}
		rooms = append(rooms, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, r := range rooms {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		if _, err := q.ExecContext(ctx, `UPDATE room_members SET user_id = $1, display_name = '' WHERE room_id = $2 AND user_id = $3`,
			"forgotten:"+hex.EncodeToString(b), r, user); err != nil {
			return fmt.Errorf("forget customer: membership: %w", err)
		}
	}
	return nil
}

// likePatterns are LIKE patterns finding s in stored text: as written,
// and as JSON writes it inside a string (event content is JSON).
func likePatterns(s string) []string {
	out := []string{"%" + escapeLike(s) + "%"}
	enc, _ := json.Marshal(s)
	if inner := string(enc[1 : len(enc)-1]); inner != s {
		out = append(out, "%"+escapeLike(inner)+"%")
	}
	return out
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// orLike is "(col LIKE $n ESCAPE '\' OR …)" for patterns, numbering
// placeholders from first; it returns the clause and args with the
// patterns appended.
func orLike(col string, patterns []string, first int, args ...any) (string, []any) {
	parts := make([]string, len(patterns))
	for i, p := range patterns {
		args = append(args, p)
		parts[i] = fmt.Sprintf(`%s LIKE $%d ESCAPE '\'`, col, first+len(args)-1)
	}
	return "(" + strings.Join(parts, " OR ") + ")", args
}
