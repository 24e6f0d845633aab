-- A saga's progress in plain columns, and its order (which never changes) written once. Before,
-- every transition rewrote the whole saga, order included, as one JSON document: parsed by
-- PostgreSQL and written to the WAL four times per order.
ALTER TABLE orchestrator.sagas
    ADD COLUMN order_data            jsonb,
    ADD COLUMN finished_steps        text[]  NOT NULL DEFAULT '{}',
    ADD COLUMN compensation_queue    text[]  NOT NULL DEFAULT '{}',
    ADD COLUMN token                 integer NOT NULL DEFAULT 0,
    ADD COLUMN compensation_attempts integer NOT NULL DEFAULT 0;

UPDATE orchestrator.sagas
   SET order_data = data -> 'order',
       finished_steps = ARRAY(SELECT jsonb_array_elements_text(data -> 'finishedSteps')),
       compensation_queue = ARRAY(SELECT jsonb_array_elements_text(data -> 'compensationQueue')),
       token = (data ->> 'token')::integer,
       compensation_attempts = (data ->> 'compensationAttempts')::integer;

ALTER TABLE orchestrator.sagas ALTER COLUMN order_data SET NOT NULL, DROP COLUMN data;
