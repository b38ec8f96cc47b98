-- Client-side zqlite tables (Zeke local cache)
-- Path suggestion: db/migrations/0001_routing.sql

PRAGMA journal_mode=WAL;
PRAGMA foreign_keys=ON;

CREATE TABLE IF NOT EXISTS routing_prefs (
  project TEXT PRIMARY KEY,
  prefer_local INTEGER NOT NULL DEFAULT 1,
  max_cloud_cost_cents INTEGER DEFAULT 200,
  last_alias TEXT,
  last_model TEXT,
  updated_at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS routing_stats (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  project TEXT NOT NULL,
  alias TEXT,
  model TEXT,
  provider TEXT,
  intent TEXT,
  size_hint TEXT,
  latency_ms INTEGER,
  tokens_in INTEGER,
  tokens_out INTEGER,
  success INTEGER NOT NULL DEFAULT 1,
  created_at INTEGER NOT NULL
);

-- Optional: store last routing decision explanation from OMEN
CREATE TABLE IF NOT EXISTS routing_trace (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  request_id TEXT,
  project TEXT,
  trace TEXT,              -- JSON blob from X-OMEN-Trace headers or body
  created_at INTEGER NOT NULL
);
