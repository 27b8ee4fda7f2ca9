-- v9: where an inbox row came from. Intake stores whatever the homeserver
-- sends, any event type included, so the type of an event says nothing
-- about who made it: a customer can send an event of type
-- org.bizbots.timer. Only rows with origin 'timer' (written by
-- FireDueTimers from the timers table) are fired timers.
ALTER TABLE inbox ADD COLUMN origin TEXT NOT NULL DEFAULT 'homeserver' CHECK (origin IN ('homeserver', 'timer'));
UPDATE inbox SET origin = 'timer' WHERE txn_id = 'timer' AND event_id LIKE '$bizbots-timer-%';
