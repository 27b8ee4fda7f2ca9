-- v5: the taxi service (services/taxi). One row per ride a customer
-- booked with a taxi bot; the conversation flow before the booking lives
-- in conversation_state, the receipts in customer_history. Times are Unix
-- milliseconds (0 = not yet), money integer minor units.

CREATE TABLE taxi_rides (
    bot_user_id  TEXT    NOT NULL,
    -- ref is the customer-facing ride reference ("TX-7K2M9Q"); timers
    -- carry it, so a timer finds its ride.
    ref          TEXT    NOT NULL,
    user_id      TEXT    NOT NULL,
    room_id      TEXT    NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('scheduled', 'assigned', 'arrived', 'on_trip', 'done', 'cancelled')),
    -- pickup and destination are JSON places: {"name": …, "fav": "home", "geo": true, "lat": …, "lon": …}
    pickup       TEXT    NOT NULL,
    destination  TEXT    NOT NULL,
    distance_m   INTEGER NOT NULL,
    minutes      INTEGER NOT NULL,
    fare_minor   BIGINT  NOT NULL,
    currency     TEXT    NOT NULL,
    pickup_at    BIGINT  NOT NULL,
    driver       TEXT    NOT NULL DEFAULT '',
    car          TEXT    NOT NULL DEFAULT '',
    plate        TEXT    NOT NULL DEFAULT '',
    assigned_at  BIGINT  NOT NULL DEFAULT 0,
    eta_at       BIGINT  NOT NULL DEFAULT 0,
    arrived_at   BIGINT  NOT NULL DEFAULT 0,
    started_at   BIGINT  NOT NULL DEFAULT 0,
    finished_at  BIGINT  NOT NULL DEFAULT 0,
    cancelled_at BIGINT  NOT NULL DEFAULT 0,
    fee_minor    BIGINT  NOT NULL DEFAULT 0,
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL,
    PRIMARY KEY (bot_user_id, ref)
);
-- One open ride per customer per taxi company, and one ride per driver at
-- a time: two concurrent bookings lose the race with a unique violation
-- (the service retries the event and sees the new state).
CREATE UNIQUE INDEX taxi_rides_open_idx ON taxi_rides (bot_user_id, user_id) WHERE status IN ('scheduled', 'assigned', 'arrived', 'on_trip');
CREATE UNIQUE INDEX taxi_rides_driver_busy_idx ON taxi_rides (bot_user_id, driver) WHERE status IN ('assigned', 'arrived', 'on_trip');
CREATE INDEX taxi_rides_customer_idx ON taxi_rides (bot_user_id, user_id, created_at);
