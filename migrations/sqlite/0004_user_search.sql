-- Fast user search and listing at scale (GET /api/v1/users).
--
-- `user_search` holds one row per live (not deleted) user: the ASCII-lower-cased search text.
-- An FTS5 trigram index over it answers `q` filters of 3 or more characters. A phrase query on
-- a case-sensitive trigram index over ASCII-lower-cased text is exactly `search_text LIKE '%q%'`
-- (LIKE folds ASCII case only; `q` arrives lower-cased), so no row needs re-checking.
--
-- Why a side table and not `content='users'`: `users` has a TEXT primary key, so its rowid is not
-- stable (VACUUM may renumber it); an FTS index keyed on it would silently point at other rows.
-- Here the key is an INTEGER PRIMARY KEY. Triggers keep both in step with `users`, whatever code
-- writes the row (admin API, import, CLI, maintenance SQL).
CREATE TABLE user_search (
    id          INTEGER PRIMARY KEY,
    user_id     TEXT NOT NULL UNIQUE,
    search_text TEXT NOT NULL
);

CREATE VIRTUAL TABLE user_search_fts USING fts5(
    search_text,
    content = 'user_search',
    content_rowid = 'id',
    columnsize = 0,
    tokenize = 'trigram case_sensitive 1'
);

CREATE TRIGGER users_search_insert AFTER INSERT ON users WHEN new.deleted_at IS NULL
BEGIN
    INSERT INTO user_search (user_id, search_text) VALUES (new.id, lower(new.search_text));
    INSERT INTO user_search_fts (rowid, search_text)
        SELECT id, search_text FROM user_search WHERE user_id = new.id;
END;

-- Soft delete sets deleted_at: the user leaves the index.
CREATE TRIGGER users_search_update AFTER UPDATE OF id, search_text, deleted_at ON users
WHEN old.id IS NOT new.id OR old.search_text IS NOT new.search_text
    OR old.deleted_at IS NOT new.deleted_at
BEGIN
    INSERT INTO user_search_fts (user_search_fts, rowid, search_text)
        SELECT 'delete', id, search_text FROM user_search WHERE user_id = old.id;
    DELETE FROM user_search WHERE user_id = old.id;
    INSERT INTO user_search (user_id, search_text)
        SELECT new.id, lower(new.search_text) WHERE new.deleted_at IS NULL;
    INSERT INTO user_search_fts (rowid, search_text)
        SELECT id, search_text FROM user_search WHERE user_id = new.id;
END;

CREATE TRIGGER users_search_delete AFTER DELETE ON users
BEGIN
    INSERT INTO user_search_fts (user_search_fts, rowid, search_text)
        SELECT 'delete', id, search_text FROM user_search WHERE user_id = old.id;
    DELETE FROM user_search WHERE user_id = old.id;
END;

INSERT INTO user_search (user_id, search_text)
    SELECT id, lower(search_text) FROM users WHERE deleted_at IS NULL ORDER BY created_at, id;
INSERT INTO user_search_fts (user_search_fts) VALUES ('rebuild');

-- Live users in list order: the first page, and pages scanned in order, read this narrow index
-- instead of sorting the table.
CREATE INDEX users_live_created ON users (created_at, id) WHERE deleted_at IS NULL;
-- Deleted users only (few): counts of group or role members exclude them through this index
-- without reading every member's row.
CREATE INDEX users_deleted ON users (id) WHERE deleted_at IS NOT NULL;
