-- media v1: what was put into the homeserver's media repository for a
-- business, so the same image by URL (or the same bytes uploaded) is
-- uploaded once. key is the URL, or sha256:<hex> of uploaded bytes.
CREATE TABLE media_cache (
    media_key  TEXT    PRIMARY KEY,
    mxc        TEXT    NOT NULL,
    mimetype   TEXT    NOT NULL,
    size       BIGINT  NOT NULL,
    width      INTEGER NOT NULL DEFAULT 0,
    height     INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT  NOT NULL
);
