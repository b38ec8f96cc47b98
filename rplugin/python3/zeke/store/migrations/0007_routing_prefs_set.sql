-- Whether the user chose a project's routing prefs (:ZekePrefer, :ZekeBudget), apart
-- from the seed schema's defaults: prefer_local is NOT NULL DEFAULT 1, so any row
-- (one made to remember an alias) said "prefer local" for every project, and a row
-- could not say "I never chose". With these flags unset, prefer_local is not applied
-- ("auto": the router decides) and max_cloud_cost_cents is the schema's default cap.
-- The seed's columns keep their meaning for other clients: :ZekePrefer local|cloud
-- writes prefer_local 1|0, :ZekeBudget writes max_cloud_cost_cents (NULL for off).
ALTER TABLE routing_prefs ADD COLUMN prefer_local_set INTEGER NOT NULL DEFAULT 0;
ALTER TABLE routing_prefs ADD COLUMN max_cloud_cost_set INTEGER NOT NULL DEFAULT 0;
