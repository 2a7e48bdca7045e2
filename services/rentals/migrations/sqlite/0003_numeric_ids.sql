-- A numeric id beside each rental's UUID, for HTTP clients and protocols
-- whose ids are integers: positive, unique, assigned once when the rental
-- is inserted (the highest so far plus one, by the one writer; rows are
-- never deleted), never changed nor reused. Rentals from before are
-- numbered in creation order (their ids are UUIDv7).
ALTER TABLE rentals ADD COLUMN numeric_id INTEGER CHECK (numeric_id > 0);
UPDATE rentals SET numeric_id = numbered.n
    FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM rentals) AS numbered
    WHERE rentals.id = numbered.id;
CREATE UNIQUE INDEX rentals_by_numeric_id ON rentals (numeric_id);
-- SQLite cannot add NOT NULL to a column of existing rows: a trigger
-- refuses a rental inserted without its number instead.
CREATE TRIGGER rentals_numeric_id_required BEFORE INSERT ON rentals
    WHEN NEW.numeric_id IS NULL
BEGIN
    SELECT RAISE(ABORT, 'rentals.numeric_id is required');
END;
