-- media v1: files bots uploaded to the homeserver's media repository, by
-- the SHA-256 of their bytes, so each file is uploaded once: a restart, a
-- second process or a reloaded catalog finds the mxc:// URI here.
CREATE TABLE media_uploads (
    sha256       TEXT   PRIMARY KEY,
    mxc          TEXT   NOT NULL,
    content_type TEXT   NOT NULL,
    size         BIGINT NOT NULL,
    created_at   BIGINT NOT NULL
);
