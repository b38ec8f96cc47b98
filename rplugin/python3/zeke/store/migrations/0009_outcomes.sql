-- What became of a request's proposed change (:ZekeStats by outcome, :ZekeModel's
-- apply rate). `proposed` is 1 when the answer proposed a change; the hunk counts
-- are NULL until the change is settled — applied (some hunks accepted, the rest
-- rejected with `r` in the review) or rejected whole / dropped unapplied (every hunk
-- rejected). A change forgotten while pending keeps NULLs: proposed, never settled.
ALTER TABLE routing_stats ADD COLUMN proposed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE routing_stats ADD COLUMN hunks_accepted INTEGER;
ALTER TABLE routing_stats ADD COLUMN hunks_rejected INTEGER;

-- The budget guard (engine/guard.py): the forecast cost range before sending (NULL:
-- no prices listed) and what the guard did, for :ZekeWhy of an earlier request.
ALTER TABLE routing_stats ADD COLUMN forecast_low_usd REAL;
ALTER TABLE routing_stats ADD COLUMN forecast_high_usd REAL;
ALTER TABLE routing_stats ADD COLUMN guard TEXT;

-- :ZekeStats reads the outcome columns too: the covering indexes take them, so the
-- query still needs no table lookups.
DROP INDEX IF EXISTS idx_stats_group_cover;
CREATE INDEX IF NOT EXISTS idx_stats_group_cover
  ON routing_stats(project, alias, model, provider, degraded, ttfb_ms,
                   success, tokens_in, tokens_out, cost_usd, latency_ms,
                   status, tokens_in_estimated, proposed, hunks_accepted, hunks_rejected);

DROP INDEX IF EXISTS idx_stats_all_group_cover;
CREATE INDEX IF NOT EXISTS idx_stats_all_group_cover
  ON routing_stats(alias, model, provider, degraded, ttfb_ms,
                   success, tokens_in, tokens_out, cost_usd, latency_ms,
                   status, tokens_in_estimated, proposed, hunks_accepted, hunks_rejected);
