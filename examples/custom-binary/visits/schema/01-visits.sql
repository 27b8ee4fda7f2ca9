-- shop-visits v1: how often each customer came by.
CREATE TABLE shop_visits (
    bot      TEXT    NOT NULL,
    customer TEXT    NOT NULL,
    count    INTEGER NOT NULL,
    PRIMARY KEY (bot, customer)
);
