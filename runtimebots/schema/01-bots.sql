-- runtimebots v1: webhook bots added while bizbots runs (`bizbots bots
-- add`, the admin API). Every bizbots process serves them within seconds.
CREATE TABLE runtime_bots (
    localpart    TEXT   PRIMARY KEY,
    display_name TEXT   NOT NULL DEFAULT '',
    avatar       TEXT   NOT NULL DEFAULT '',
    business     TEXT   NOT NULL,
    url          TEXT   NOT NULL,
    -- The webhook secret signs requests, so it is kept as is (like the
    -- appservice tokens in the config file).
    secret       TEXT   NOT NULL,
    old_secret   TEXT   NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
