-- v2: what a business knows about its customers. Everything is keyed by
-- the bot (the business), so "forget me" erases one business's data only.

CREATE TABLE customers (
    bot_user_id  TEXT   NOT NULL,
    user_id      TEXT   NOT NULL,
    display_name TEXT   NOT NULL DEFAULT '',
    first_seen   BIGINT NOT NULL,
    last_seen    BIGINT NOT NULL,
    profile      TEXT   NOT NULL DEFAULT '{}',
    consent      TEXT   NOT NULL DEFAULT '{}',
    PRIMARY KEY (bot_user_id, user_id)
);

-- A handler's typed state for one customer in one room, with the step of
-- a multi-step flow and when it expires.
CREATE TABLE conversation_state (
    bot_user_id TEXT   NOT NULL,
    room_id     TEXT   NOT NULL,
    user_id     TEXT   NOT NULL,
    step        TEXT   NOT NULL DEFAULT '',
    state       TEXT   NOT NULL DEFAULT '{}',
    expires_at  BIGINT NOT NULL DEFAULT 0,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (bot_user_id, room_id, user_id)
);

-- The customer's history with a business: orders, bookings, tickets, and
-- notable messages, newest last.
CREATE TABLE customer_history (
    id          BIGSERIAL PRIMARY KEY, -- only: postgres
    id          INTEGER PRIMARY KEY AUTOINCREMENT, -- only: sqlite
    bot_user_id TEXT   NOT NULL,
    user_id     TEXT   NOT NULL,
    kind        TEXT   NOT NULL,
    summary     TEXT   NOT NULL,
    data        TEXT   NOT NULL DEFAULT '{}',
    created_at  BIGINT NOT NULL
);
CREATE INDEX customer_history_idx ON customer_history (bot_user_id, user_id, id);
