package store

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/lib/pq"
)

// Every message's routing reads its room's view (ViewRoom) first. On
// Postgres those reads were half of all statements, one per message,
// while group commit had made the writes a few statements a group; each
// costs the server a round trip and a plan's execution however small. So,
// like GroupTx for writes, the views asked for while a read is out are
// read together by the next read, in one statement: an idle process reads
// at once, a busy one reads many rooms a round trip.
type viewGroup struct {
	mu      sync.Mutex
	queue   []*viewReq
	running int
}

// maxViewGroup bounds the rooms one statement reads; viewReaders is how
// many such statements may be out at once.
const (
	maxViewGroup = 64
	viewReaders  = 2
)

type viewReq struct {
	room, sender string
	view         RoomView
	err          error
	done         chan struct{}
}

// view reads one room's view with whatever others are asked for meanwhile.
func (g *viewGroup) view(ctx context.Context, db *DB, room, sender string) (RoomView, error) {
	if err := ctx.Err(); err != nil {
		return RoomView{}, err
	}
	r := &viewReq{room: room, sender: sender, done: make(chan struct{})}
	g.mu.Lock()
	g.queue = append(g.queue, r)
	if g.running < viewReaders {
		g.running++
		// The reader serves every caller, so it carries none of this
		// caller's context; statements are bounded by the database
		// timeouts.
		go g.read(context.Background(), db)
	}
	g.mu.Unlock()
	select {
	case <-r.done:
		return r.view, r.err
	case <-ctx.Done():
		return RoomView{}, ctx.Err()
	}
}

// read reads queued views until none is waiting, then ends (the next view
// starts another).
func (g *viewGroup) read(ctx context.Context, db *DB) {
	for {
		g.mu.Lock()
		n := min(len(g.queue), maxViewGroup)
		if n == 0 {
			g.running--
			g.mu.Unlock()
			return
		}
		batch := slices.Clone(g.queue[:n])
		g.queue = append(g.queue[:0], g.queue[n:]...)
		g.mu.Unlock()
		err := db.readViews(ctx, batch)
		for _, r := range batch {
			if err != nil {
				r.err = err
			}
			close(r.done)
		}
	}
}

// readViews reads the views of batch in one Postgres statement: ViewRoom's
// point lookups joined to the list of rooms and senders, each row tagged
// with the position of the view it belongs to.
func (db *DB) readViews(ctx context.Context, batch []*viewReq) error {
	rooms, senders := make(pq.StringArray, len(batch)), make(pq.StringArray, len(batch))
	for i, r := range batch {
		rooms[i], senders[i] = r.room, r.sender
	}
	rows, err := db.QueryContext(ctx, `WITH q AS (
			SELECT * FROM unnest(CAST($1 AS text[]), CAST($2 AS text[])) WITH ORDINALITY AS q(room_id, sender, i)
		), b AS (
			SELECT q.i, q.sender, b.bot_user_id, b.room_id, b.inviter, b.is_direct FROM q
			JOIN bot_rooms b ON b.room_id = q.room_id AND b.membership = 'join'
		)
		SELECT i, 0, bot_user_id, inviter, CASE WHEN is_direct THEN 1 ELSE 0 END, 0, '', '' FROM b
		UNION ALL SELECT q.i, 1, '', '', (SELECT count(*) FROM room_members m WHERE m.room_id = q.room_id AND m.membership = 'join'), 0, '', '' FROM q
		UNION ALL SELECT b.i, 2, c.bot_user_id, '', 0, 0, '', '' FROM b JOIN console_rooms c
			ON c.bot_user_id = b.bot_user_id AND c.room_id = b.room_id AND c.status = 'agent'
		UNION ALL SELECT b.i, 3, s.bot_user_id, s.step, s.expires_at, 0, s.state, s.question FROM b JOIN conversation_state s
			ON s.bot_user_id = b.bot_user_id AND s.room_id = b.room_id AND s.user_id = b.sender
		UNION ALL SELECT b.i, 4, c.bot_user_id, c.display_name, c.first_seen, c.last_seen, c.profile, c.consent FROM b JOIN customers c
			ON c.bot_user_id = b.bot_user_id AND c.user_id = b.sender
		UNION ALL SELECT q.i, 5, '', m.display_name, 0, 0, '', '' FROM q JOIN room_members m
			ON m.room_id = q.room_id AND m.user_id = q.sender`, rooms, senders)
	if err != nil {
		return fmt.Errorf("read rooms: %w", err)
	}
	defer rows.Close()
	builders := make([]viewBuilder, len(batch))
	for i, r := range batch {
		builders[i].room = r.room
	}
	for rows.Next() {
		var i int
		var r turnRow
		if err := rows.Scan(&i, &r.kind, &r.bot, &r.text, &r.n1, &r.n2, &r.x, &r.y); err != nil {
			return fmt.Errorf("read rooms: %w", err)
		}
		if i < 1 || i > len(batch) {
			return fmt.Errorf("read rooms: row for view %d of %d", i, len(batch))
		}
		if err := builders[i-1].add(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read rooms: %w", err)
	}
	for i, r := range batch {
		r.view = builders[i].done(r.sender)
	}
	return nil
}
