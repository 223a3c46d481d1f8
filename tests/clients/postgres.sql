-- The PostgreSQL side of the client-compatibility tests (catalog `crm`).
CREATE TABLE orgs (
  org_code text PRIMARY KEY,
  org_name text NOT NULL,
  tier smallint NOT NULL
);
COMMENT ON TABLE orgs IS 'Partner organisations';
INSERT INTO orgs VALUES ('BANK01', '가나은행', 1), ('CARD02', '다라카드', 2);
CREATE TABLE members (
  member_id bigint PRIMARY KEY,
  org_code text NOT NULL REFERENCES orgs,
  name varchar(40) NOT NULL,
  score integer,
  balance numeric(30,10),
  ratio double precision,
  active boolean,
  joined_on date,
  joined_at timestamptz,
  profile jsonb,
  tags integer[],
  ext_id uuid
);
COMMENT ON COLUMN members.balance IS 'Balance in KRW, exact';
COMMENT ON COLUMN members.name IS '회원 이름';
INSERT INTO members VALUES
  (1, 'BANK01', 'Kim', 10, 12345678901234567890.0123456789, 0.5, true, '2024-02-29', '2024-02-29 23:30:00+09', '{"vip": true}', '{3,1,2}', '0b9f3c3e-8d5e-4f7a-9a51-2f4b7c8d9e10'),
  (2, 'CARD02', 'Lee', NULL, -0.0000000001, NULL, false, NULL, NULL, NULL, NULL, NULL);
CREATE VIEW member_names AS SELECT member_id, name FROM members;
