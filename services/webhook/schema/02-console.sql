-- webhook v2: what the business console shows and changes of a webhook bot.

-- URL and secret set by the bot's owners in the console; they win over
-- the bot's config block. old_secret still signs while the business moves
-- to the new secret (both signatures are sent).
CREATE TABLE webhook_settings (
    bot_user_id TEXT   PRIMARY KEY,
    url         TEXT   NOT NULL,
    secret      TEXT   NOT NULL,
    old_secret  TEXT   NOT NULL DEFAULT '',
    updated_by  TEXT   NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- Each event's delivery as it stands: delivered, waiting for a retry, or
-- given up. Rows older than a week go (deliveryKeep).
CREATE TABLE webhook_deliveries (
    bot_user_id TEXT    NOT NULL,
    msg_id      TEXT    NOT NULL,
    event_id    TEXT    NOT NULL,
    room_id     TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,
    event_type  TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('delivered', 'retrying', 'given_up')),
    http_status INTEGER NOT NULL DEFAULT 0,
    error       TEXT    NOT NULL DEFAULT '',
    attempts    INTEGER NOT NULL,
    took_ms     BIGINT  NOT NULL DEFAULT 0,
    at          BIGINT  NOT NULL,
    next_at     BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (bot_user_id, msg_id)
);
CREATE INDEX webhook_deliveries_at_idx ON webhook_deliveries (bot_user_id, at);
