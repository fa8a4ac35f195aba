-- 0002: the external-id column (the expand step of the strangler migration).
-- An order the new service created and the sync-back copied here keeps its
-- own id (ord_…) in order_ref; its id is a surrogate. NULL for the
-- monolith's own orders. ASCII and binary: ids compare exactly.
ALTER TABLE orders
  ADD COLUMN IF NOT EXISTS order_ref VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin NULL AFTER id,
  ADD UNIQUE KEY IF NOT EXISTS uq_orders_order_ref (order_ref);
