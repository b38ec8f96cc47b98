-- How a request ended, apart from success: a cancelled request is the user's
-- choice, not a failure, and :ZekeStats counts the two apart. `success` stays
-- (the seed schema's column, read by other clients): 1 exactly when status = 'ok'.
-- Rows written before this migration take their status from `success`.
ALTER TABLE routing_stats ADD COLUMN status TEXT;
UPDATE routing_stats SET status = CASE WHEN success = 1 THEN 'ok' ELSE 'failed' END;

-- The server sent no prompt token count: tokens_in is zeke's own estimate of what
-- it sent (shown with "~").
ALTER TABLE routing_stats ADD COLUMN tokens_in_estimated INTEGER NOT NULL DEFAULT 0;

-- The router switched model mid-answer: `model` is the one that finished it,
-- this the one that began it (the badge shows switched_from→model).
ALTER TABLE routing_stats ADD COLUMN switched_from TEXT;

-- :ZekeStats reads status and tokens_in_estimated too: the covering indexes of
-- 0003 and 0005 take them, so the query still needs no table lookups.
DROP INDEX IF EXISTS idx_stats_group_cover;
CREATE INDEX IF NOT EXISTS idx_stats_group_cover
  ON routing_stats(project, alias, model, provider, degraded, ttfb_ms,
                   success, tokens_in, tokens_out, cost_usd, latency_ms,
                   status, tokens_in_estimated);

DROP INDEX IF EXISTS idx_stats_all_group_cover;
CREATE INDEX IF NOT EXISTS idx_stats_all_group_cover
  ON routing_stats(alias, model, provider, degraded, ttfb_ms,
                   success, tokens_in, tokens_out, cost_usd, latency_ms,
                   status, tokens_in_estimated);
