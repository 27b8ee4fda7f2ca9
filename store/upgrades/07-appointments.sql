-- v7: the appointments service. A booking is one customer's appointment;
-- the time it takes is also written as one row per occupied 5-minute
-- granule of the staff member's day, and the primary key on those rows is
-- what makes a double booking impossible, whatever number of bizbots
-- processes race for the same slot. Times are Unix milliseconds.

CREATE TABLE appointments_bookings (
    id          TEXT   PRIMARY KEY, -- short random reference shown to the customer
    bot_user_id TEXT   NOT NULL,
    user_id     TEXT   NOT NULL,
    service     TEXT   NOT NULL,
    staff       TEXT   NOT NULL,
    starts_at   BIGINT NOT NULL,
    ends_at     BIGINT NOT NULL,
    price       BIGINT NOT NULL,   -- minor units of currency
    currency    TEXT   NOT NULL,
    status      TEXT   NOT NULL DEFAULT 'booked' CHECK (status IN ('booked', 'cancelled')),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX appointments_bookings_customer_idx ON appointments_bookings (bot_user_id, user_id, starts_at);

-- One row per 5-minute granule (aligned to Unix time) a booked
-- appointment covers. A cancelled booking has no rows; a moved one has the
-- rows of its new time only.
CREATE TABLE appointments_slots (
    bot_user_id TEXT   NOT NULL,
    staff       TEXT   NOT NULL,
    slot_start  BIGINT NOT NULL,
    booking_id  TEXT   NOT NULL REFERENCES appointments_bookings (id) ON DELETE CASCADE,
    PRIMARY KEY (bot_user_id, staff, slot_start)
);
CREATE INDEX appointments_slots_day_idx ON appointments_slots (bot_user_id, slot_start);
CREATE INDEX appointments_slots_booking_idx ON appointments_slots (booking_id);
