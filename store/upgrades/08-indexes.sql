-- v8: indexes for the paths every message takes and for the hourly prune.
-- Without them a lookup or a delete reads the whole table, and on SQLite
-- it does so while holding the one write lock intake needs.

-- Deleting an outbox row sets parent_id = NULL on its children (the
-- foreign key's ON DELETE SET NULL): without this index each deleted row
-- scanned the whole outbox, which made the prune quadratic.
CREATE INDEX outbox_parent_idx ON outbox (parent_id);

-- BotsInRoom runs for every event; the primary key starts with the bot.
CREATE INDEX bot_rooms_room_idx ON bot_rooms (room_id);

-- Finding rooms with work due reads pending rows only, in queue order.
CREATE INDEX inbox_pending_seq_idx ON inbox (seq) WHERE status = 'pending';
CREATE INDEX outbox_pending_seq_idx ON outbox (id) WHERE status = 'pending';

-- The prune finds what is old enough without reading the rest.
CREATE INDEX as_txn_received_idx ON as_txn (received_at);
CREATE INDEX inbox_done_idx ON inbox (received_at) WHERE status <> 'pending';
CREATE INDEX outbox_done_idx ON outbox (created_at) WHERE status <> 'pending';
