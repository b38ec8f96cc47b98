-- Per-request details the seed schema lacks: the request id (to join with
-- routing_trace and tool_calls), time to first byte, cost, and what went wrong.

ALTER TABLE routing_stats ADD COLUMN request_id TEXT;
ALTER TABLE routing_stats ADD COLUMN ttfb_ms INTEGER;
ALTER TABLE routing_stats ADD COLUMN cost_usd REAL;
ALTER TABLE routing_stats ADD COLUMN degraded INTEGER NOT NULL DEFAULT 0;
ALTER TABLE routing_stats ADD COLUMN over_budget INTEGER NOT NULL DEFAULT 0;
ALTER TABLE routing_stats ADD COLUMN error TEXT;
ALTER TABLE routing_stats ADD COLUMN finish_reason TEXT;

-- :ZekeStats aggregates per (alias, model, provider, degraded) within a project;
-- this index covers that whole query (no table lookups) and hands TTFB in
-- order inside each group, so median/p95 are a short index walk.
CREATE INDEX IF NOT EXISTS idx_stats_group_cover
  ON routing_stats(project, alias, model, provider, degraded, ttfb_ms,
                   success, tokens_in, tokens_out, cost_usd, latency_ms);

-- The same groups with total latency in order (median latency).
CREATE INDEX IF NOT EXISTS idx_stats_group_latency
  ON routing_stats(project, alias, model, provider, degraded, latency_ms);

-- The model picker: median TTFB per alias, and the newest row per alias.
CREATE INDEX IF NOT EXISTS idx_stats_alias_ttfb
  ON routing_stats(project, alias, ttfb_ms);

CREATE INDEX IF NOT EXISTS idx_stats_alias_time
  ON routing_stats(project, alias, created_at DESC);

CREATE INDEX IF NOT EXISTS idx_stats_request
  ON routing_stats(request_id);

CREATE INDEX IF NOT EXISTS idx_trace_request
  ON routing_trace(request_id);
