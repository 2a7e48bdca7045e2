-- A numeric id beside each activation's UUID, for HTTP clients and
-- protocols whose ids are integers: positive, unique, assigned once when
-- the activation is inserted (the highest so far plus one, by the one
-- writer; rows are never deleted), never changed nor reused. Activations
-- from before are numbered in creation order (their ids are UUIDv7).
ALTER TABLE activations ADD COLUMN numeric_id INTEGER CHECK (numeric_id > 0);
UPDATE activations SET numeric_id = numbered.n
    FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM activations) AS numbered
    WHERE activations.id = numbered.id;
CREATE UNIQUE INDEX activations_by_numeric_id ON activations (numeric_id);
-- SQLite cannot add NOT NULL to a column of existing rows: a trigger
-- refuses an activation inserted without its number instead.
CREATE TRIGGER activations_numeric_id_required BEFORE INSERT ON activations
    WHEN NEW.numeric_id IS NULL
BEGIN
    SELECT RAISE(ABORT, 'activations.numeric_id is required');
END;
