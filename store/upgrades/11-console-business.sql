-- The business console's second part (issue 16): settings staff edit
-- (overriding the config's defaults), the audit of those edits and of
-- moves on the orders board, and broadcasts to customers who subscribed.
-- A board move's form token is kept in console_replies, like a reply's.

-- A setting's value as staff set it in the console; no row: the config's.
CREATE TABLE console_settings (
    bot_user_id TEXT   NOT NULL,
    key         TEXT   NOT NULL,
    value       TEXT   NOT NULL,
    updated_by  TEXT   NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (bot_user_id, key)
);

-- Who changed what, when: one row per setting changed (old → new) and per
-- order moved or broadcast sent.
CREATE TABLE console_audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT, -- only: sqlite
    id          BIGSERIAL PRIMARY KEY,             -- only: postgres
    bot_user_id TEXT   NOT NULL,
    user_id     TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    what        TEXT   NOT NULL,
    old_value   TEXT   NOT NULL DEFAULT '',
    new_value   TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX console_audit_bot_idx ON console_audit (bot_user_id, id);

-- A broadcast: its text, who confirmed it, and its recipients, fixed at
-- confirmation (token: the confirmation form's, so a retried confirmation
-- finds the broadcast instead of making a second one).
CREATE TABLE console_broadcasts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT, -- only: sqlite
    id          BIGSERIAL PRIMARY KEY,             -- only: postgres
    bot_user_id TEXT   NOT NULL,
    token       TEXT   NOT NULL UNIQUE,
    body        TEXT   NOT NULL,
    created_by  TEXT   NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX console_broadcasts_bot_idx ON console_broadcasts (bot_user_id, id);

-- One recipient of a broadcast. outbox_id is 0 until the message is queued
-- (at the polite rate); skipped says it was not sent after all (the
-- customer said stop meanwhile, or has no chat with the bot any more).
CREATE TABLE console_broadcast_recipients (
    broadcast_id BIGINT  NOT NULL,
    user_id      TEXT    NOT NULL,
    outbox_id    BIGINT  NOT NULL DEFAULT 0,
    skipped      BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (broadcast_id, user_id)
);
CREATE INDEX console_broadcast_pending_idx ON console_broadcast_recipients (broadcast_id) WHERE outbox_id = 0 AND NOT skipped;

-- The orders board reads one day of a bot's orders, appointments and
-- rides: without these it read every order the bot ever had (20,000
-- orders: 37 ms per board on SQLite, the page refreshes live).
CREATE INDEX console_ordering_day_idx ON ordering_orders (bot_user_id, created_at);
CREATE INDEX console_appointments_day_idx ON appointments_bookings (bot_user_id, starts_at);
CREATE INDEX console_taxi_pickup_idx ON taxi_rides (bot_user_id, pickup_at);
