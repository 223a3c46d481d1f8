//! The Redshift connector, run against PostgreSQL: every statement it sends is read back
//! from PostgreSQL's own log and must use only SQL that Redshift has.

mod common;

use common::*;

/// Constructs PostgreSQL has and Redshift lacks (lower case).
const NOT_IN_REDSHIFT: &[&str] = &[
    "jsonb", "json_agg", "json_build", "array_agg", "string_agg", "lateral", "::regclass", "::regtype",
    "regclass", "format_type(", "pg_get_", "generate_series", "distinct on", "filter (where", "within group",
    "on conflict", "returning", "unnest(", "array[", "fetch first", "pg_tables", "pg_enum", "pg_attribute",
    "information_schema.schemata", "tablesample", "grouping sets", "cube(", "rollup(", " as text)",
];

#[tokio::test]
async fn redshift_catalog_sends_only_redshift_sql() {
    let pg = PgDb::create("CREATE TABLE sales (id int, org text, amount numeric(12,2), qty int, sold_at timestamp, PRIMARY KEY (org, id));
        INSERT INTO sales VALUES (1,'A',10.50,3,'2026-01-01 10:00'),(2,'A',0.25,1,'2026-01-02 11:00'),(3,'B',99.99,7,'2026-01-02 12:00');
        CREATE TABLE orgs (org text PRIMARY KEY, name text); INSERT INTO orgs VALUES ('A','가나'),('B','다라');
        ALTER TABLE sales ADD CONSTRAINT sales_org_fkey FOREIGN KEY (org) REFERENCES orgs;").await;
    pg_log_statements(&pg.name).await;
    let cats = Catalogs::new().postgres_port("wh", &pg.name, 5432, "redshift");
    let server = Server::start(&cats);
    let c = server.client().await;

    let agg = rows(&c, "SELECT org, count(*), sum(amount), avg(qty), stddev(qty), variance(qty), var_pop(qty)
        FROM wh.public.sales GROUP BY org ORDER BY org").await;
    assert_eq!(agg[0][..3], ["A", "2", "10.75"]);
    assert_eq!(agg[1][..3], ["B", "1", "99.99"]);
    let joined = rows(&c, "SELECT o.name, sum(s.amount) FROM wh.public.sales s JOIN wh.public.orgs o ON o.org = s.org
        WHERE s.qty > 0 AND o.name <> 'it''s' GROUP BY o.name ORDER BY o.name").await;
    assert_eq!(joined, vec![vec!["가나".to_string(), "10.75".into()], vec!["다라".to_string(), "99.99".into()]]);
    let limited = rows(&c, "SELECT id FROM (SELECT id FROM wh.public.sales ORDER BY id LIMIT 2) t WHERE id > 1").await;
    assert_eq!(limited, vec![vec!["2".to_string()]]);
    let daily = rows(&c, "SELECT CAST(date_trunc('day', sold_at) AS VARCHAR), count(*) FROM wh.public.sales GROUP BY 1 ORDER BY 1").await;
    assert_eq!(daily.len(), 2);

    // Keys declared in the warehouse show as in PostgreSQL (composite key in its order).
    let keys = rows(&c, "SELECT constraint_name, table_name, column_name, ordinal_position FROM information_schema.key_column_usage
        WHERE table_schema = 'wh.public' ORDER BY constraint_name, ordinal_position").await;
    assert_eq!(keys, [["orgs_pkey", "orgs", "org", "1"], ["sales_org_fkey", "sales", "org", "1"],
        ["sales_pkey", "sales", "org", "1"], ["sales_pkey", "sales", "id", "2"]]);

    let sent = pg_statements(&pg.name);
    assert!(sent.len() >= 5, "too few statements recorded: {sent:#?}");
    assert!(sent.iter().any(|s| s.contains("GROUP BY")), "aggregates were not pushed down: {sent:#?}");
    for stmt in &sent {
        if let Some(bad) = redshift_lacks(stmt) {
            panic!("Redshift lacks `{bad}`, but the connector sent:\n{stmt}");
        }
    }

    // The check has teeth: the plain Postgres connector's schema inference trips it.
    let before = sent.len();
    let cats = Catalogs::new().postgres("pg", &pg.name);
    let server = Server::start(&cats);
    let c = server.client().await;
    rows(&c, "SELECT count(*) FROM pg.public.sales").await;
    let sent = pg_statements(&pg.name);
    assert!(sent[before..].iter().any(|s| redshift_lacks(s).is_some()), "{:#?}", &sent[before..]);
}

fn redshift_lacks(stmt: &str) -> Option<&'static str> {
    let lower = stmt.to_lowercase();
    NOT_IN_REDSHIFT.iter().copied().find(|bad| lower.contains(bad))
}
