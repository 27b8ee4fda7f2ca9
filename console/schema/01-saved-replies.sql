-- console v1: saved replies, per bot. Owners write them in the console;
-- agents insert one into a reply and may edit it before sending. Core
-- console tables (sessions, holds, sent replies) are in the core schema.
CREATE TABLE console_saved_replies (
    id          BIGSERIAL PRIMARY KEY, -- only: postgres
    id          INTEGER PRIMARY KEY AUTOINCREMENT, -- only: sqlite
    bot_user_id TEXT   NOT NULL,
    title       TEXT   NOT NULL,
    body        TEXT   NOT NULL,
    updated_by  TEXT   NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX console_saved_replies_title_idx ON console_saved_replies (bot_user_id, title);
