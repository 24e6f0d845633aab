-- The order saga now runs in stages: it sends ReserveTickets and CreateInvoice together, and
-- undoes them together (CancelInvoice with ReleaseTickets). A saga that the previous build left
-- in flight was sent only one of each pair, and would wait on a reply that never comes:
--
-- * running and waiting on its reservation: its CreateInvoice was never sent. Without it, the
--   stage's deadline would turn an order that can be confirmed back as `invoice_timeout`.
-- * compensating (or failed) on its invoice with the reservation still to undo: its
--   ReleaseTickets was never sent. Without it, the tickets stay held until a resend.
--
-- Both are sent here, as the saga would have sent them. Each is idempotent per saga at its
-- participant: an invoice that exists is kept, a release with nothing held leaves a marker.
-- (Stop every process of the previous build before this runs; see the README.)
INSERT INTO bus.messages (id, queue, type, saga_id, causation_id, payload, headers)
SELECT gen_random_uuid(), 'invoicing', 'CreateInvoice.v1', s.id, NULL,
       jsonb_build_object('amountCents', (s.order_data ->> 'totalCents')::bigint,
                          'currency', s.order_data ->> 'currency',
                          'customerID', s.order_data ->> 'customerID',
                          'orderID', s.order_data ->> 'orderID')::text,
       '{}'
  FROM orchestrator.sagas s
 WHERE s.state = 'running' AND s.step = 'reserveTickets' AND s.finished_steps = '{}';

INSERT INTO bus.messages (id, queue, type, saga_id, causation_id, payload, headers)
SELECT gen_random_uuid(), 'inventory', 'ReleaseTickets.v1', s.id, NULL,
       jsonb_build_object('orderID', s.order_data ->> 'orderID')::text,
       '{}'
  FROM orchestrator.sagas s
 WHERE s.state IN ('compensating', 'failed') AND s.step = 'cancelInvoice'
   AND 'reserveTickets' = ANY (s.compensation_queue);
