ALTER TABLE folders DROP COLUMN version;
