-- Fast user listing at scale (GET /api/v1/users). Substring search keeps the pg_trgm index of
-- 0002.

-- Live users in list order: the first page and ordered scans with a filter (group, role, q) stop
-- after one page instead of sorting every match.
CREATE INDEX users_live_created ON users (created_at, id) WHERE deleted_at IS NULL;
-- Deleted users only (few): counts of group or role members exclude them with an anti-join on
-- this index instead of reading every member's row.
CREATE INDEX users_deleted ON users (id) WHERE deleted_at IS NOT NULL;
