-- A budget in money beside the seconds. Amounts are whole micro-units of the catalog's
-- currency (bot/domain/money.py): the ledger must add up exactly, which REAL cannot promise.
-- A job keeps the estimated cost it reserved, as it keeps cost_seconds, so its release
-- gives back exactly what was reserved whatever the prices say later.
ALTER TABLE jobs ADD COLUMN cost_micros INTEGER NOT NULL DEFAULT 0;

-- The ledger's cost moves to whole micro-units; the charges so far keep their amount.
-- Reservations made before this carried no cost, as their jobs' cost_micros (0) says.
ALTER TABLE ledger ADD COLUMN cost_micros INTEGER NOT NULL DEFAULT 0;
UPDATE ledger SET cost_micros = CAST(ROUND(cost * 1000000) AS INTEGER) WHERE cost != 0;
ALTER TABLE ledger DROP COLUMN cost;

-- A guild's spending is summed from the index, as its seconds are.
DROP INDEX ledger_by_guild;
CREATE INDEX ledger_by_guild ON ledger (guild_id, window_at, seconds, jobs, cost_micros);

-- The server's daily and monthly spending caps; NULL means none.
ALTER TABLE guild_settings ADD COLUMN daily_budget_micros INTEGER;
ALTER TABLE guild_settings ADD COLUMN monthly_budget_micros INTEGER;
