-- v1: the message flow. Transactions seen, inbox, outbox, room leases,
-- bots and the rooms they are in. Times are Unix milliseconds.

CREATE TABLE bb_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
-- install_id prefixes every Matrix transaction id the sender uses, so a
-- database that is wiped and recreated never reuses a txn id the
-- homeserver still remembers (it would silently drop the new message).
INSERT INTO bb_meta (key, value) VALUES ('install_id', md5(random()::text || clock_timestamp()::text)); -- only: postgres
INSERT INTO bb_meta (key, value) VALUES ('install_id', lower(hex(randomblob(16)))); -- only: sqlite

-- Every transaction id the homeserver sent. Its presence is what makes a
-- replay a no-op; the events themselves are deduplicated by event_id in
-- the inbox, because Dendrite may resend a txn id carrying more events.
CREATE TABLE as_txn (
    txn_id      TEXT PRIMARY KEY,
    received_at BIGINT NOT NULL,
    event_count INTEGER NOT NULL
);

-- Events received, in arrival order. A row moves pending → done (handled,
-- its effects committed in the same transaction) or pending → parked
-- (failed max_attempts times; last_error says why).
CREATE TABLE inbox (
    seq         BIGSERIAL PRIMARY KEY, -- only: postgres
    seq         INTEGER PRIMARY KEY AUTOINCREMENT, -- only: sqlite
    event_id    TEXT    NOT NULL UNIQUE,
    room_id     TEXT    NOT NULL,
    sender      TEXT    NOT NULL,
    event_type  TEXT    NOT NULL,
    state_key   TEXT,
    origin_ts   BIGINT  NOT NULL,
    event       TEXT    NOT NULL,
    txn_id      TEXT    NOT NULL,
    received_at BIGINT  NOT NULL,
    status      TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'parked')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    retry_at    BIGINT  NOT NULL DEFAULT 0,
    last_error  TEXT    NOT NULL DEFAULT '',
    handled_at  BIGINT
);
CREATE INDEX inbox_pending_idx ON inbox (room_id, seq) WHERE status = 'pending';

-- Messages to send, as a bot, in creation order per room. The Matrix txn
-- id is derived from install_id and id, so a resend after a crash is
-- deduplicated by the homeserver. parent_id: this row's content relates to
-- the event another row produced (a reaction on the bot's own message);
-- the sender fills in that event id once the parent is sent.
CREATE TABLE outbox (
    id             BIGSERIAL PRIMARY KEY, -- only: postgres
    id             INTEGER PRIMARY KEY AUTOINCREMENT, -- only: sqlite
    room_id        TEXT    NOT NULL,
    bot_user_id    TEXT    NOT NULL,
    event_type     TEXT    NOT NULL,
    content        TEXT    NOT NULL,
    parent_id      BIGINT  REFERENCES outbox (id) ON DELETE SET NULL,
    cause_event_id TEXT    NOT NULL DEFAULT '',
    meta           TEXT    NOT NULL DEFAULT '',
    status         TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    retry_at       BIGINT  NOT NULL DEFAULT 0,
    last_error     TEXT    NOT NULL DEFAULT '',
    event_id       TEXT    NOT NULL DEFAULT '',
    created_at     BIGINT  NOT NULL,
    sent_at        BIGINT
);
CREATE INDEX outbox_pending_idx ON outbox (room_id, id) WHERE status = 'pending';
CREATE INDEX outbox_event_idx ON outbox (event_id) WHERE event_id <> '';

-- Who works on a room right now. queue is 'inbox' or 'outbox'. A lease is
-- taken only when free or expired, renewed inside every transaction that
-- commits work for the room (so a process that lost its lease cannot
-- commit), and released when the room has no more work.
CREATE TABLE room_lease (
    queue      TEXT   NOT NULL,
    room_id    TEXT   NOT NULL,
    owner      TEXT   NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (queue, room_id)
);

-- Bot users bizbots registered, and the profile it last set for them.
CREATE TABLE bots (
    user_id       TEXT   PRIMARY KEY,
    registered_at BIGINT NOT NULL,
    profile_hash  TEXT   NOT NULL DEFAULT ''
);

-- A bot's membership in a room; is_direct comes from the invite.
CREATE TABLE bot_rooms (
    bot_user_id TEXT    NOT NULL,
    room_id     TEXT    NOT NULL,
    membership  TEXT    NOT NULL,
    is_direct   BOOLEAN NOT NULL DEFAULT false,
    inviter     TEXT    NOT NULL DEFAULT '',
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (bot_user_id, room_id)
);

-- Other members of rooms a bot is in, as seen in membership events (used to
-- tell a one-to-one chat from a group).
CREATE TABLE room_members (
    room_id      TEXT   NOT NULL,
    user_id      TEXT   NOT NULL,
    membership   TEXT   NOT NULL,
    display_name TEXT   NOT NULL DEFAULT '',
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
