package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// BotRoom is a bot's membership in one room.
type BotRoom struct {
	BotUserID  string
	RoomID     string
	Membership string
	IsDirect   bool
	Inviter    string
}

// SetBotMembership records a bot's membership. isDirect only ever turns
// on: a later join event (which carries no is_direct) keeps the invite's.
func SetBotMembership(ctx context.Context, q Querier, botUserID, roomID, membership string, isDirect bool, inviter string) error {
	_, err := q.ExecContext(ctx, `INSERT INTO bot_rooms (bot_user_id, room_id, membership, is_direct, inviter, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (bot_user_id, room_id) DO UPDATE SET membership = excluded.membership,
			is_direct = (bot_rooms.is_direct OR excluded.is_direct),
			inviter = CASE WHEN excluded.inviter <> '' THEN excluded.inviter ELSE bot_rooms.inviter END,
			updated_at = excluded.updated_at`,
		botUserID, roomID, membership, isDirect, inviter, Now())
	if err != nil {
		return fmt.Errorf("record bot membership: %w", err)
	}
	return nil
}

// BotsInRoom lists the bots joined to a room.
func (db *DB) BotsInRoom(ctx context.Context, roomID string) ([]BotRoom, error) {
	rows, err := db.QueryContext(ctx, `SELECT bot_user_id, room_id, membership, is_direct, inviter
		FROM bot_rooms WHERE room_id = $1 AND membership = 'join'`, roomID)
	if err != nil {
		return nil, fmt.Errorf("list bots in room: %w", err)
	}
	defer rows.Close()
	var out []BotRoom
	for rows.Next() {
		var b BotRoom
		if err := rows.Scan(&b.BotUserID, &b.RoomID, &b.Membership, &b.IsDirect, &b.Inviter); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	sortBots(out)
	return out, rows.Err()
}

// sortBots orders a room's bots by user id. Sorting here instead of with
// ORDER BY: for the one or two rows of a room, SQLite's sorter took three
// times as long as the rest of the read.
func sortBots(bots []BotRoom) {
	slices.SortFunc(bots, func(a, b BotRoom) int { return strings.Compare(a.BotUserID, b.BotUserID) })
}

// RoomView is what routing a message needs to know of its room, read in
// one statement: the bots joined to it, how many other users are joined,
// which bots' conversation a person took over in the business console,
// and what each of the bots knows of the message's sender.
type RoomView struct {
	Bots   []BotRoom           // ordered by bot user id
	Joined int                 // users other than bots with membership join
	Held   map[string]bool     // bot user id → a person answers for it here
	Turns  map[string]TurnRows // bot user id → its turn rows for the sender
}

// ViewRoom reads a room's RoomView for a message from sender ("" for
// none: Turns is then empty). The turn rows are read for every bot joined
// to the room, so the one round trip serves whichever bots the message
// turns out to concern. (A UNION ALL of point lookups; SQLite numbers $n
// placeholders in the order they first appear.)
func (db *DB) ViewRoom(ctx context.Context, roomID, sender string) (RoomView, error) {
	rows, err := db.QueryContext(ctx, `SELECT 0, bot_user_id, inviter, CASE WHEN is_direct THEN 1 ELSE 0 END, 0, '', ''
			FROM bot_rooms WHERE room_id = $1 AND membership = 'join'
		UNION ALL SELECT 1, '', '', count(*), 0, '', '' FROM room_members WHERE room_id = $1 AND membership = 'join'
		UNION ALL SELECT 2, c.bot_user_id, '', 0, 0, '', '' FROM bot_rooms b JOIN console_rooms c
			ON c.bot_user_id = b.bot_user_id AND c.room_id = b.room_id AND c.status = 'agent'
			WHERE b.room_id = $1 AND b.membership = 'join'
		UNION ALL SELECT 3, s.bot_user_id, s.step, s.expires_at, 0, s.state, s.question FROM bot_rooms b JOIN conversation_state s
			ON s.bot_user_id = b.bot_user_id AND s.room_id = b.room_id AND s.user_id = $2
			WHERE b.room_id = $1 AND b.membership = 'join'
		UNION ALL SELECT 4, c.bot_user_id, c.display_name, c.first_seen, c.last_seen, c.profile, c.consent FROM bot_rooms b JOIN customers c
			ON c.bot_user_id = b.bot_user_id AND c.user_id = $2
			WHERE b.room_id = $1 AND b.membership = 'join'
		UNION ALL SELECT 5, '', display_name, 0, 0, '', '' FROM room_members WHERE room_id = $1 AND user_id = $2`, roomID, sender)
	if err != nil {
		return RoomView{}, fmt.Errorf("read room: %w", err)
	}
	defer rows.Close()
	var v RoomView
	var member string // the sender's display name in the room
	for rows.Next() {
		var r turnRow
		if err := r.scan(rows); err != nil {
			return RoomView{}, fmt.Errorf("read room: %w", err)
		}
		switch r.kind {
		case 0:
			v.Bots = append(v.Bots, BotRoom{BotUserID: r.bot, RoomID: roomID, Membership: "join", IsDirect: r.n1 == 1, Inviter: r.text})
		case 1:
			v.Joined = int(r.n1)
		case 2:
			if v.Held == nil {
				v.Held = map[string]bool{}
			}
			v.Held[r.bot] = true
		case kindMember:
			member = r.text
		default:
			if v.Turns == nil {
				v.Turns = map[string]TurnRows{}
			}
			t := v.Turns[r.bot]
			if err := r.fill(&t); err != nil {
				return RoomView{}, err
			}
			v.Turns[r.bot] = t
		}
	}
	if err := rows.Err(); err != nil {
		return RoomView{}, fmt.Errorf("read room: %w", err)
	}
	sortBots(v.Bots)
	if sender != "" {
		if v.Turns == nil {
			v.Turns = map[string]TurnRows{}
		}
		for _, b := range v.Bots {
			t := v.Turns[b.BotUserID]
			t.MemberName = member
			v.Turns[b.BotUserID] = t
		}
	}
	return v, nil
}

// SetMember records another user's membership in a room.
func SetMember(ctx context.Context, q Querier, roomID, userID, membership, displayName string) error {
	_, err := q.ExecContext(ctx, `INSERT INTO room_members (room_id, user_id, membership, display_name, updated_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (room_id, user_id) DO UPDATE SET membership = excluded.membership,
			display_name = excluded.display_name, updated_at = excluded.updated_at`,
		roomID, userID, membership, Clean(displayName), Now())
	if err != nil {
		return fmt.Errorf("record room member: %w", err)
	}
	return nil
}

// JoinedMemberCount counts joined non-bot members we have seen in a room.
func (db *DB) JoinedMemberCount(ctx context.Context, roomID string) (int, error) {
	var n int
	err := db.QueryRowContext(ctx, `SELECT count(*) FROM room_members WHERE room_id = $1 AND membership = 'join'`, roomID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count room members: %w", err)
	}
	return n, nil
}

// BotProfileHash returns the profile hash last set for a bot ("" if the
// bot was never registered by this database).
func (db *DB) BotProfileHash(ctx context.Context, userID string) (hash string, registered bool, err error) {
	err = db.QueryRowContext(ctx, `SELECT profile_hash FROM bots WHERE user_id = $1`, userID).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read bot: %w", err)
	}
	return hash, true, nil
}

// SaveBot records that a bot is registered and which profile it has.
func (db *DB) SaveBot(ctx context.Context, userID, profileHash string) error {
	_, err := db.ExecContext(ctx, `INSERT INTO bots (user_id, registered_at, profile_hash) VALUES ($1, $2, $3)
		ON CONFLICT (user_id) DO UPDATE SET profile_hash = excluded.profile_hash`, userID, Now(), profileHash)
	if err != nil {
		return fmt.Errorf("save bot: %w", err)
	}
	return nil
}

// AddInvitedMember records that user was invited to a room, unless a
// membership of theirs is known already (their join may have come in
// first).
func AddInvitedMember(ctx context.Context, q Querier, roomID, userID string) error {
	_, err := q.ExecContext(ctx, `INSERT INTO room_members (room_id, user_id, membership, display_name, updated_at)
		VALUES ($1, $2, 'invite', '', $3) ON CONFLICT (room_id, user_id) DO NOTHING`, roomID, userID, Now())
	if err != nil {
		return fmt.Errorf("record invited member: %w", err)
	}
	return nil
}

// InvitedDirectRoom returns a room bot is in where user is invited and
// alone with the bot: a direct chat the bot opened that user has not
// joined yet ("" when there is none).
func InvitedDirectRoom(ctx context.Context, q Querier, bot, user string) (string, error) {
	var room string
	err := q.QueryRowContext(ctx, `SELECT br.room_id FROM bot_rooms br
		WHERE br.bot_user_id = $1 AND br.membership = 'join'
		  AND EXISTS (SELECT 1 FROM room_members rm WHERE rm.room_id = br.room_id AND rm.user_id = $2 AND rm.membership = 'invite')
		  AND NOT EXISTS (SELECT 1 FROM room_members x WHERE x.room_id = br.room_id AND x.user_id <> $3 AND x.membership IN ('join', 'invite'))
		ORDER BY br.updated_at DESC LIMIT 1`, bot, user, user).Scan(&room)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("find invited direct room: %w", err)
	}
	return room, nil
}

// Membership returns a user's membership in a room as last seen ("" when
// unknown).
func (db *DB) Membership(ctx context.Context, roomID, userID string) (string, error) {
	var m string
	err := db.QueryRowContext(ctx, `SELECT membership FROM room_members WHERE room_id = $1 AND user_id = $2`, roomID, userID).Scan(&m)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read membership: %w", err)
	}
	return m, nil
}
