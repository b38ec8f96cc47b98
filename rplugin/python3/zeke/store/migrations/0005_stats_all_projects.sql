-- :ZekeStats! (all projects) groups by (alias, model, provider, degraded) across
-- projects. The 0003 indexes lead with project, so without these SQLite sorts every
-- row into a temporary B-tree and the medians need every value in Python (~200 ms at
-- 100,000 rows). Same shape as the per-project ones, minus project.
CREATE INDEX IF NOT EXISTS idx_stats_all_group_cover
  ON routing_stats(alias, model, provider, degraded, ttfb_ms,
                   success, tokens_in, tokens_out, cost_usd, latency_ms);

CREATE INDEX IF NOT EXISTS idx_stats_all_group_latency
  ON routing_stats(alias, model, provider, degraded, latency_ms);
