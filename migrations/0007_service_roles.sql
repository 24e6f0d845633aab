-- One least-privileged role per service. Processes keep logging in as the URL's user and then
-- act as their service's role (the `role` setting at connection start), so a service can reach
-- only its own schema and the bus. Roles belong to the whole cluster; grants to this database.
DO $$
DECLARE
    service text;
BEGIN
    FOREACH service IN ARRAY ARRAY['eventicket_api', 'eventicket_orchestrator', 'eventicket_inventory',
                                   'eventicket_invoicing', 'eventicket_payment'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = service) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', service);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL; -- created meanwhile by a migration of another database
            END;
        END IF;
        -- The login user must be able to act as each service's role.
        IF NOT pg_has_role(current_user, service, 'MEMBER') THEN
            EXECUTE format('GRANT %I TO %I', service, current_user);
        END IF;
    END LOOP;
END
$$;

-- Every service publishes and consumes through the bus.
GRANT USAGE ON SCHEMA bus TO eventicket_api, eventicket_orchestrator, eventicket_inventory, eventicket_invoicing, eventicket_payment;
GRANT SELECT, INSERT, UPDATE, DELETE ON bus.messages, bus.processed_messages
    TO eventicket_api, eventicket_orchestrator, eventicket_inventory, eventicket_invoicing, eventicket_payment;
GRANT SELECT, INSERT ON bus.dead_letters
    TO eventicket_api, eventicket_orchestrator, eventicket_inventory, eventicket_invoicing, eventicket_payment;

-- The HTTP process: orders; the catalog (inventory's events and ticket types, not its
-- reservations); creating and reading sagas (the first transaction of every order).
GRANT USAGE ON SCHEMA ordering, inventory, orchestrator TO eventicket_api;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA ordering TO eventicket_api;
GRANT SELECT, INSERT ON inventory.events, inventory.ticket_types TO eventicket_api;
GRANT SELECT, INSERT ON orchestrator.sagas, orchestrator.saga_history TO eventicket_api;

GRANT USAGE ON SCHEMA orchestrator TO eventicket_orchestrator;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA orchestrator TO eventicket_orchestrator;

GRANT USAGE ON SCHEMA inventory TO eventicket_inventory;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA inventory TO eventicket_inventory;

GRANT USAGE ON SCHEMA invoicing TO eventicket_invoicing;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA invoicing TO eventicket_invoicing;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA invoicing TO eventicket_invoicing;

GRANT USAGE ON SCHEMA payment TO eventicket_payment;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA payment TO eventicket_payment;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA payment TO eventicket_payment;
