-- :ZekeHistory: every request and its answer, kept so it can be listed and reopened
-- (docs/design.md §10, §18). One row per request (a follow-up or a retry is a row of
-- its own). `messages` is the thread as sent (JSON, already redacted by the request
-- path) and `answer` the text as received (already scrubbed of the router key).
-- The small columns come first: the list reads them without touching the large ones.
-- Bounded by the config's history.max_entries: the oldest rows go on each write.
CREATE TABLE IF NOT EXISTS history (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  request_id  TEXT NOT NULL,
  project     TEXT NOT NULL DEFAULT '',
  created_at  INTEGER NOT NULL,
  command     TEXT,
  intent      TEXT,
  alias       TEXT,
  model       TEXT,
  provider    TEXT,
  cost_usd    REAL,
  tokens      INTEGER,
  outcome     TEXT NOT NULL,   -- answered | proposed | applied | rejected | cancelled | failed
  title       TEXT,            -- the question's first line, for the list
  thread_id   TEXT,            -- the conversation's first request
  turn        INTEGER,
  pin         TEXT,            -- the model a follow-up names (engine/thread.py)
  degraded    INTEGER NOT NULL DEFAULT 0,
  context     TEXT,            -- JSON: path, filetype, the selection (what a follow-up's change needs)
  question    TEXT,            -- the user's own words, redacted
  messages    TEXT NOT NULL,   -- JSON list of {role, content}, as sent
  answer      TEXT NOT NULL DEFAULT ''
);

CREATE UNIQUE INDEX IF NOT EXISTS idx_history_request ON history(request_id);
-- newest first, per project and over all projects (:ZekeHistory / :ZekeHistory!)
CREATE INDEX IF NOT EXISTS idx_history_project_time ON history(project, created_at, id);
CREATE INDEX IF NOT EXISTS idx_history_time ON history(created_at, id);
