-- sendapi v1: businesses' tokens and what they may do, idempotency keys,
-- and the messages they sent (for their delivery status).

-- A business's bearer tokens, stored as SHA-256 hex: a leaked database
-- does not leak usable tokens. revoked_at > 0 ends a token.
CREATE TABLE sendapi_tokens (
    token_hash TEXT   PRIMARY KEY,
    business   TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX sendapi_tokens_business_idx ON sendapi_tokens (business);

-- The bots a business's tokens may act as.
CREATE TABLE sendapi_scopes (
    business    TEXT NOT NULL,
    bot_user_id TEXT NOT NULL,
    PRIMARY KEY (business, bot_user_id)
);

-- The first response to each Idempotency-Key, so a retried POST gets it
-- again and sends nothing new. Kept at least 24 hours.
CREATE TABLE sendapi_idempotency (
    business     TEXT    NOT NULL,
    idem_key     TEXT    NOT NULL,
    request_hash TEXT    NOT NULL,
    status       INTEGER NOT NULL,
    response     TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    PRIMARY KEY (business, idem_key)
);

-- Messages sent through the API, pointing at their outbox row.
CREATE TABLE sendapi_messages (
    id          TEXT   PRIMARY KEY,
    business    TEXT   NOT NULL,
    bot_user_id TEXT   NOT NULL,
    room_id     TEXT   NOT NULL,
    outbox_id   BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);
