-- A saga's outcome is recorded on its order by the orchestrator, in the statement that stores
-- the saga's last transition, instead of by the ordering service's consumer after an
-- `OrderConfirmed` or `OrderRejected` message: the order's status and its saga's state now
-- commit together, and a confirmed order is one hop sooner. The orchestrator is the ordering
-- service's saga engine (the ordering service creates the saga in the transaction that stores
-- the order, see 0007), so this stays inside that service: the orchestrator may read an
-- order's id and status and change its status, reason and `updated_at`, nothing else.
-- Messages that builds before this one queued for `ordering` are still consumed as before.
GRANT USAGE ON SCHEMA ordering TO eventicket_orchestrator;
GRANT SELECT (id, status), UPDATE (status, reason, updated_at) ON ordering.orders TO eventicket_orchestrator;
