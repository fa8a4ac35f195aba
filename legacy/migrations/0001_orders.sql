-- 0001: the orders table of the reference monolith (shared/DESIGN.md, "Legacy table").
CREATE TABLE IF NOT EXISTS orders (
  id               BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  customer_id      VARCHAR(64)     NOT NULL,
  channel          ENUM('retail','wholesale') NOT NULL,
  status           ENUM('pending','accepted','processing','shipped','cancelled') NOT NULL DEFAULT 'pending',
  currency         CHAR(3)         NOT NULL,
  items            JSON            NOT NULL,
  total            DECIMAL(12,2)   NOT NULL,
  shipping_address JSON            NULL,
  notes            TEXT            NULL,
  idempotency_key  VARCHAR(64)     NULL,
  created_at       DATETIME(6)     NOT NULL,
  updated_at       DATETIME(6)     NOT NULL,
  version          INT UNSIGNED    NOT NULL DEFAULT 1,
  PRIMARY KEY (id),
  UNIQUE KEY uq_orders_idempotency_key (idempotency_key),
  KEY ix_orders_customer_created (customer_id, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
