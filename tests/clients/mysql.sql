-- The MySQL side of the client-compatibility tests (catalog `shop`).
CREATE TABLE payments (
  id BIGINT NOT NULL PRIMARY KEY,
  member_id BIGINT NOT NULL,
  amount DECIMAL(20,4) NOT NULL COMMENT '결제 금액 (KRW)',
  paid_at DATETIME(3) NOT NULL,
  status VARCHAR(16) NOT NULL,
  note TEXT NULL
) CHARACTER SET utf8mb4 COMMENT 'Card payments';
INSERT INTO payments VALUES
  (1, 1, 1000.1234, '2026-11-01 09:00:00.500', 'done', '첫 결제'),
  (2, 1, 99999999999999.9999, '2026-11-02 10:00:00', 'done', NULL),
  (3, 2, 0.0001, '2026-11-03 11:00:00', 'failed', NULL);
CREATE VIEW done_payments AS SELECT id, amount FROM payments WHERE status = 'done';
