-- v06: the support service (services/support): tickets, and which of the
-- bot's staff-room posts belong to which ticket.

-- One ticket of one business (bot). number counts up per bot; the
-- primary key is what makes two customers racing for the same number
-- safe (the loser is handled again and takes the next one). A customer
-- has at most one ticket that is not closed (partial unique index): a
-- second "open" for the same customer is a race lost, never a duplicate.
-- status: open (waiting for staff) → claimed (an agent has it) → closed.
-- staff_room is the staff room the ticket was posted to ('' when none was
-- configured); root_event_id caches the event id of that post once known
-- (threads hang under it). outbox_after is the largest outbox id when
-- the ticket was opened: the post is the first outbox row after it in
-- the staff room caused by opened_event_id, so finding it is a short
-- primary-key range scan. Forgetting a customer anonymises their tickets
-- (customer_id, name, room and text emptied, status closed) so numbers are
-- never reused.
CREATE TABLE support_tickets (
    bot_user_id     TEXT    NOT NULL,
    number          BIGINT  NOT NULL,
    customer_id     TEXT    NOT NULL,
    customer_name   TEXT    NOT NULL DEFAULT '',
    room_id         TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    topic           TEXT    NOT NULL DEFAULT '',
    status          TEXT    NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'claimed', 'closed')),
    agent_id        TEXT    NOT NULL DEFAULT '',
    agent_name      TEXT    NOT NULL DEFAULT '',
    staff_room      TEXT    NOT NULL DEFAULT '',
    opened_event_id TEXT    NOT NULL DEFAULT '',
    outbox_after    BIGINT  NOT NULL DEFAULT 0,
    root_event_id   TEXT    NOT NULL DEFAULT '',
    rating          INTEGER CHECK (rating BETWEEN 1 AND 5),
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    closed_at       BIGINT,
    PRIMARY KEY (bot_user_id, number)
);
CREATE UNIQUE INDEX support_tickets_one_open_idx ON support_tickets (bot_user_id, customer_id) WHERE status <> 'closed';
CREATE INDEX support_tickets_customer_idx ON support_tickets (bot_user_id, customer_id, number);
CREATE INDEX support_tickets_status_idx ON support_tickets (bot_user_id, status);

-- Every turn that posts into the staff room about a ticket leaves its
-- cause event id here. A staff reply names a bot post (its thread root or
-- the message it quotes); outbox.event_id → outbox.cause_event_id → this
-- table gives the ticket, through indexed lookups only.
CREATE TABLE support_posts (
    bot_user_id    TEXT   NOT NULL,
    cause_event_id TEXT   NOT NULL,
    number         BIGINT NOT NULL,
    PRIMARY KEY (bot_user_id, cause_event_id)
);
