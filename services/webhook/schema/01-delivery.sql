-- webhook v1: what the webhook service keeps of its own deliveries. The
-- events themselves stay in bizbots' inbox until delivered; these rows
-- only count attempts and remember what the customer was told.

-- Failed attempts of one event to one bot's endpoint (deleted when it is
-- delivered or given up): the attempt number picks the next retry delay.
CREATE TABLE webhook_attempts (
    bot_user_id TEXT    NOT NULL,
    msg_id      TEXT    NOT NULL,
    attempts    INTEGER NOT NULL,
    first_at    BIGINT  NOT NULL,
    last_error  TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (bot_user_id, msg_id)
);

-- Rooms whose customer was told "we have your message and will answer
-- soon" during an outage, so they are told once, not once per message.
CREATE TABLE webhook_held (
    bot_user_id TEXT   NOT NULL,
    room_id     TEXT   NOT NULL,
    user_id     TEXT   NOT NULL,
    told_at     BIGINT NOT NULL,
    PRIMARY KEY (bot_user_id, room_id)
);

-- Endpoints disabled because they answered 410 Gone; an admin turns one
-- back on with `bizbots webhook enable`.
CREATE TABLE webhook_disabled (
    bot_user_id TEXT   PRIMARY KEY,
    url         TEXT   NOT NULL,
    reason      TEXT   NOT NULL,
    disabled_at BIGINT NOT NULL
);
