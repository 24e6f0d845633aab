-- A service records a message's failure in `bus.dead_letters` with
-- `INSERT … ON CONFLICT (id) DO UPDATE SET attempts, error, dead_at`: a message dead-lettered
-- again under an id that is already there updates that record instead of being dropped.
-- PostgreSQL checks the UPDATE privilege for that form whether or not a conflict happens, and
-- 0007 granted the services only SELECT and INSERT, so as their own roles (the default) they
-- could not dead-letter anything: the insert failed, the batch rolled back and the message
-- came back first in the queue, again and again. Only the columns the upsert sets.
GRANT UPDATE (attempts, error, dead_at) ON bus.dead_letters
    TO eventicket_api, eventicket_orchestrator, eventicket_inventory, eventicket_invoicing, eventicket_payment;
