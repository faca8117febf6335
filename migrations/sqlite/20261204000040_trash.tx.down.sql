DROP INDEX documents_trash_idx;
DROP INDEX folders_trash_idx;
