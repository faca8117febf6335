-- Folders count their changes like documents do, so that a saved state can be named and
-- restored by its version.
ALTER TABLE folders ADD COLUMN version integer NOT NULL DEFAULT 1;
