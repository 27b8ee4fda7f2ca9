-- v4: the ordering service (services/ordering). Orders get a short number
-- per bot (1001, 1002…): the primary key makes two turns that picked the
-- same number conflict, and the loser is handled again with the next one.
-- Money is in minor units of the order's currency; times are Unix ms.

CREATE TABLE ordering_orders (
    bot_user_id  TEXT    NOT NULL,
    number       BIGINT  NOT NULL,
    customer_id  TEXT    NOT NULL, -- '' once the customer asked to be forgotten
    status       TEXT    NOT NULL CHECK (status IN ('received', 'preparing', 'ready', 'out_for_delivery', 'delivered', 'cancelled')),
    fulfilment   TEXT    NOT NULL CHECK (fulfilment IN ('delivery', 'pickup')),
    address      TEXT    NOT NULL DEFAULT '',
    note         TEXT    NOT NULL DEFAULT '',
    currency     TEXT    NOT NULL,
    items        TEXT    NOT NULL, -- JSON: [{item, size, name, qty, price}]
    delivery_fee BIGINT  NOT NULL DEFAULT 0,
    total        BIGINT  NOT NULL,
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL,
    PRIMARY KEY (bot_user_id, number)
);
CREATE INDEX ordering_orders_customer_idx ON ordering_orders (bot_user_id, customer_id, number);
CREATE INDEX ordering_orders_open_idx ON ordering_orders (bot_user_id, number) WHERE status NOT IN ('delivered', 'cancelled');

-- Every status an order went through, who set it (the customer or a staff
-- member's Matrix id) and when.
CREATE TABLE ordering_status_history (
    id          BIGSERIAL PRIMARY KEY, -- only: postgres
    id          INTEGER PRIMARY KEY AUTOINCREMENT, -- only: sqlite
    bot_user_id TEXT   NOT NULL,
    number      BIGINT NOT NULL,
    status      TEXT   NOT NULL,
    actor       TEXT   NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    FOREIGN KEY (bot_user_id, number) REFERENCES ordering_orders (bot_user_id, number) ON DELETE CASCADE
);
CREATE INDEX ordering_status_history_idx ON ordering_status_history (bot_user_id, number, id);
