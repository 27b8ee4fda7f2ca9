-- v13 (Postgres): a room's pending work is found through the room's own
-- entries only. Beside the indexes of pending rows by room, v8 added
-- indexes of pending rows in queue order; with statistics gathered while
-- nothing was pending (a quiet hour, an ANALYZE after a bulk load),
-- Postgres chose those for the lookups of one room's next event or reply
-- and read every room's waiting rows to find one room's: thousands a
-- message under a burst. Postgres finds its work by room (the rooms with
-- work come from a walk of the room index), so it needs no queue-order
-- index; SQLite keeps them, its queries name the index they use.
DROP INDEX inbox_pending_seq_idx;  -- only: postgres
DROP INDEX outbox_pending_seq_idx; -- only: postgres
