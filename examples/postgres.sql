-- Demo: organisations and members in PostgreSQL (seeds 000, 002). Loaded by scripts/demo-load.
DROP TABLE IF EXISTS members;
DROP TABLE IF EXISTS orgs;
CREATE TABLE orgs (
  org_code text PRIMARY KEY,
  org_name text NOT NULL,
  tier smallint NOT NULL
);
INSERT INTO orgs VALUES
  ('BANK01', '가나은행', 1),
  ('CARD02', '다라카드', 2),
  ('INSU03', '마바보험', 2),
  ('SEC04', '사아증권', 3);
CREATE TABLE members (
  member_id bigint PRIMARY KEY,
  org_code text NOT NULL REFERENCES orgs,
  joined_at timestamptz NOT NULL,
  total_amount numeric(20,2) NOT NULL
);
INSERT INTO members
SELECT i,
       (ARRAY['BANK01','CARD02','INSU03','SEC04'])[1 + i % 4],
       timestamptz '2023-01-01 00:00:00+09' + (i * interval '7 hours'),
       round(((i * 7919) % 100000000) / 100.0, 2)
FROM generate_series(1, 2000) AS i;
ANALYZE orgs;
ANALYZE members;
