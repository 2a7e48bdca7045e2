-- The most a customer would pay for a purchase (NULL for no limit), kept on
-- the rental because whoever drives the saga again (the recovery worker)
-- must ask the catalog with the same limit; and the currency it was named
-- in, empty for the catalog's. Rows from before limits existed have none.
ALTER TABLE rentals
    ADD COLUMN max_price BIGINT CHECK (max_price > 0),
    ADD COLUMN max_price_currency TEXT NOT NULL DEFAULT '';
