-- Helpful indexes for quick lookups

CREATE INDEX IF NOT EXISTS idx_stats_project_time
  ON routing_stats(project, created_at DESC);

CREATE INDEX IF NOT EXISTS idx_stats_model
  ON routing_stats(model);

CREATE INDEX IF NOT EXISTS idx_stats_provider
  ON routing_stats(provider);

CREATE INDEX IF NOT EXISTS idx_trace_project_time
  ON routing_trace(project, created_at DESC);
