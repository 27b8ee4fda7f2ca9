-- v3: open questions and timers. A conversation remembers the question it
-- asked (so "2" or a reaction can be understood), and handlers can set
-- timers that come back as inbox events, in room order, exactly once.

ALTER TABLE conversation_state ADD COLUMN question TEXT NOT NULL DEFAULT '';

CREATE TABLE timers (
    id          BIGSERIAL PRIMARY KEY, -- only: postgres
    id          INTEGER PRIMARY KEY AUTOINCREMENT, -- only: sqlite
    bot_user_id TEXT   NOT NULL,
    room_id     TEXT   NOT NULL,
    user_id     TEXT   NOT NULL,
    name        TEXT   NOT NULL,
    payload     TEXT   NOT NULL DEFAULT '',
    due_at      BIGINT NOT NULL,
    status      TEXT   NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'fired', 'cancelled')),
    created_at  BIGINT NOT NULL
);
CREATE INDEX timers_due_idx ON timers (due_at) WHERE status = 'pending';
CREATE INDEX timers_customer_idx ON timers (bot_user_id, user_id);
