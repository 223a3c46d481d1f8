-- Demo: the live API-call log in MySQL/MariaDB (seed 001). Loaded by scripts/demo-load.
CREATE DATABASE IF NOT EXISTS fedsql_demo CHARACTER SET utf8mb4;
USE fedsql_demo;
DROP TABLE IF EXISTS api_call_log;
CREATE TABLE api_call_log (
  id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  requested_at DATETIME(3) NOT NULL,
  org_code VARCHAR(16) NOT NULL,
  api_code VARCHAR(32) NOT NULL,
  duration_ms INT NOT NULL,
  status SMALLINT NOT NULL,
  fee DECIMAL(12,2) NOT NULL,
  note VARCHAR(100) NULL,
  KEY idx_requested_at (requested_at)
) CHARACTER SET utf8mb4;
SET SESSION max_recursive_iterations = 100000;
INSERT INTO api_call_log
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 6000)
SELECT i,
       TIMESTAMPADD(SECOND, i * 43, '2026-11-01 00:00:00'),
       ELT(1 + i % 4, 'BANK01', 'CARD02', 'INSU03', 'SEC04'),
       ELT(1 + i % 3, 'accounts', 'transactions', 'cards'),
       20 + (i * 37) % 480,
       IF(i % 50 = 0, 500, 200),
       CAST(((i * 13) % 1000) / 100 AS DECIMAL(12,2)),
       IF(i % 7 = 0, '재시도 후 성공', NULL)
FROM n;
