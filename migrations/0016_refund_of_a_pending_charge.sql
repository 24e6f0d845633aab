-- A refund that finds a charge still waiting for the gateway's answer (`pending`) marks it
-- `refunding`: when the gateway does take the money, payment gives it back at once, in the
-- same transaction. Before, the refund answered "0 refunded" and left the charge pending; the
-- late charge was then only undone if the orchestrator heard of it after that answer, and a
-- saga that saw the two replies the other way round kept the money.
ALTER TABLE payment.charges DROP CONSTRAINT charges_status_check;
ALTER TABLE payment.charges ADD CONSTRAINT charges_status_check
    CHECK (status IN ('pending', 'refunding', 'charged', 'failed', 'refunded', 'cancelled'));
COMMENT ON COLUMN payment.charges.status IS
    'pending: sent to the gateway, no answer yet; refunding: pending, and a refund was asked for: '
    'the charge is given back the moment it lands; charged; failed (declined); refunded; '
    'cancelled: a refund arrived before any charge.';
