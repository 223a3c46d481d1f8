// node-postgres against a running fedsql; run by tests/clients.rs with FEDSQL_PORT and
// SHOP_SCHEMA set. Exits non-zero on the first wrong answer.
const assert = require("assert");
const { Client } = require("pg");

const shop = `shop.${process.env.SHOP_SCHEMA}`;

async function main() {
  const c = new Client({ host: "127.0.0.1", port: Number(process.env.FEDSQL_PORT), user: "analyst", database: "fedsql" });
  await c.connect();
  // Simple protocol (no parameters) and extended protocol (parameters).
  let r = await c.query("SELECT balance, name FROM crm.public.members ORDER BY member_id");
  assert.deepStrictEqual(r.rows.map((x) => x.balance), ["12345678901234567890.0123456789", "-0.0000000001"]);
  r = await c.query("SELECT name, score FROM crm.public.members WHERE member_id = $1", [1]);
  assert.deepStrictEqual(r.rows, [{ name: "Kim", score: 10 }]);
  r = await c.query(`SELECT sum(amount) AS total, count(*) AS n FROM "${shop}".payments`);
  assert.deepStrictEqual(r.rows, [{ total: "100000000001000.1234", n: "3" }]);
  assert.strictEqual(r.fields[0].dataTypeID, 1700, "sum of a decimal is numeric");
  assert.strictEqual(r.fields[1].dataTypeID, 20, "count is int8");
  r = await c.query("SELECT joined_at, joined_on, active FROM crm.public.members WHERE member_id = 1");
  assert.strictEqual(r.rows[0].joined_at.toISOString(), "2024-02-29T14:30:00.000Z");
  assert.strictEqual(r.rows[0].active, true);
  // A source's jsonb is parsed as node-postgres parses PostgreSQL's own.
  r = await c.query("SELECT profile, ext_id FROM crm.public.members WHERE member_id = 1");
  assert.deepStrictEqual(r.rows[0], { profile: { vip: true }, ext_id: "0b9f3c3e-8d5e-4f7a-9a51-2f4b7c8d9e10" });
  assert.deepStrictEqual(r.fields.map((f) => f.dataTypeID), [3802, 2950]);
  r = await c.query("SHOW server_version");
  assert.strictEqual(r.rows[0].server_version, "16.6");
  r = await c.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'crm.public' ORDER BY table_name");
  assert.deepStrictEqual(r.rows.map((x) => x.table_name), ["member_names", "members", "orgs"]);
  // A multi-statement simple query answers every statement, in order.
  const multi = await c.query("set query_group to 'bi'; SELECT 1 AS a; SELECT 2 AS b");
  assert.deepStrictEqual(multi.map((x) => x.command), ["SET", "SELECT", "SELECT"]);
  // Integer literals are int4, as in PostgreSQL: node-postgres reads them as numbers
  // (int8 and numeric arrive as text).
  assert.deepStrictEqual(multi[2].rows, [{ b: 2 }]);
  r = await c.query("SELECT 3000000000 AS wide, 1.5 AS exact");
  assert.deepStrictEqual(r.rows[0], { wide: "3000000000", exact: "1.5" });
  await assert.rejects(c.query("SELECT * FROM crm.public.nope"), (e) => e.code === "42P01" && /crm/.test(e.message));
  r = await c.query("SELECT 1 AS still_alive");
  assert.strictEqual(r.rows[0].still_alive, 1);
  await c.end();
  console.log("client ok: node-postgres");
}

main().catch((e) => {
  console.error("client FAILED: node-postgres:", e);
  process.exit(1);
});
