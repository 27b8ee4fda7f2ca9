-- The business console (issue 16; numbered 15 on main, 10 on its branch
-- only so the files stay gapless). Staff sign-ins, and who answers a
-- conversation: the bot or a person. The console reads the framework's own
-- inbox and outbox for a room's history; it adds nothing to them but the
-- replies it queues, like any handler.

-- A signed-in staff member. Only a SHA-256 of the cookie's random id is
-- kept, so a copy of the database cannot be used to sign in. csrf is the
-- synchronizer token every form of the session must carry.
CREATE TABLE console_sessions (
    id_hash    TEXT   PRIMARY KEY,
    user_id    TEXT   NOT NULL,
    csrf       TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX console_sessions_expiry_idx ON console_sessions (expires_at);

-- A conversation a person took over ('agent': the bot stays silent),
-- handed back ('bot') or closed. No row: the bot answers.
CREATE TABLE console_rooms (
    bot_user_id TEXT   NOT NULL,
    room_id     TEXT   NOT NULL,
    status      TEXT   NOT NULL CHECK (status IN ('bot', 'agent', 'closed')),
    agent       TEXT   NOT NULL DEFAULT '',
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (bot_user_id, room_id)
);

-- Form tokens of replies already queued: a double submit, a reload or a
-- retried POST finds its token here and sends nothing more.
CREATE TABLE console_replies (
    token      TEXT   PRIMARY KEY,
    outbox_id  BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

-- A room's history, newest first, for the inbox and conversation pages:
-- without these each page read the whole inbox and outbox once per
-- conversation (200 conversations of 10 messages: 0.8 s on Postgres).
CREATE INDEX console_inbox_room_idx ON inbox (room_id, seq);
CREATE INDEX console_outbox_room_idx ON outbox (room_id, id);
