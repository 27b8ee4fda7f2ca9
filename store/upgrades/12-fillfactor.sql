-- v12 (Postgres): room on the queue tables' pages for a row's next
-- version. Counting an attempt changes no indexed column, so with room on
-- its page Postgres updates the row in place (a HOT update) instead of
-- adding an entry to each of the table's six or seven indexes; the pages
-- were filled to the brim by the inserts. New pages only: the rows
-- already stored keep theirs until they are pruned.
ALTER TABLE inbox SET (fillfactor = 80);  -- only: postgres
ALTER TABLE outbox SET (fillfactor = 80); -- only: postgres
