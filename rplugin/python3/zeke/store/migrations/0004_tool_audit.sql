-- Every tool call the model asked for and what became of it: the consent
-- decision ("allow" | "allow_session" | "policy" | "reject" | "cancel" |
-- "refused") and the result ("ok" | "error" | "timeout" | "not_run").
-- Arguments are stored only as a digest: they can hold file contents.

CREATE TABLE IF NOT EXISTS tool_calls (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  request_id TEXT,
  project TEXT NOT NULL,
  server TEXT,
  tool TEXT NOT NULL,
  args_digest TEXT NOT NULL,
  decision TEXT NOT NULL,
  result_status TEXT NOT NULL,
  duration_ms INTEGER,
  detail TEXT,
  created_at INTEGER NOT NULL
);

CREATE INDEX IF NOT EXISTS idx_tool_calls_project_time
  ON tool_calls(project, created_at DESC);

CREATE INDEX IF NOT EXISTS idx_tool_calls_time
  ON tool_calls(created_at DESC);
