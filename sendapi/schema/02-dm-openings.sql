-- sendapi v2: direct chats being opened for a message to a customer who
-- has none. A row claims the opening (one createRoom per bot and
-- customer at a time) and is deleted once the room is recorded; a row
-- left by a process that died mid-way goes stale after a while.
CREATE TABLE sendapi_dm_openings (
    bot_user_id TEXT   NOT NULL,
    user_id     TEXT   NOT NULL,
    started_at  BIGINT NOT NULL,
    PRIMARY KEY (bot_user_id, user_id)
);
