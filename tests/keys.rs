//! Primary and foreign keys of MySQL and PostgreSQL tables, as tools read them:
//! information_schema (Metabase's field sync, DBeaver) and pg_constraint (Metabase's
//! foreign keys, psql's `\d`). The expected keys are the ones each source reports itself.

mod common;

use common::*;

const KEY_COLUMNS: &str = "SELECT tc.table_name, tc.constraint_type, kcu.column_name, kcu.ordinal_position
    FROM information_schema.table_constraints tc
    JOIN information_schema.key_column_usage kcu
      ON kcu.constraint_name = tc.constraint_name AND kcu.table_schema = tc.table_schema AND kcu.table_name = tc.table_name
    WHERE tc.table_schema = $1 ORDER BY 1, 2, 4";

#[tokio::test]
async fn source_keys_show_in_information_schema_and_pg_constraint() {
    let my = MysqlDb::create("CREATE TABLE parent (a INT, b INT, note TEXT, PRIMARY KEY (a, b)) ENGINE=InnoDB;
        CREATE TABLE child (id INT PRIMARY KEY, pa INT, pb INT, FOREIGN KEY (pa, pb) REFERENCES parent (a, b)) ENGINE=InnoDB;
        CREATE TABLE loose (x INT);");
    let pg = PgDb::create("CREATE TABLE parent (a int, b int, note text, PRIMARY KEY (a, b));
        CREATE TABLE child (id int PRIMARY KEY, pb int, pa int, FOREIGN KEY (pa, pb) REFERENCES parent (a, b));
        CREATE TABLE loose (x int);").await;
    let cats = Catalogs::new().mysql("live", &my.name).postgres("crm", &pg.name);
    let server = Server::start(&cats);
    let client = server.client().await;

    // MySQL's own view of its keys, in the same shape.
    let mysql_keys = mysql(Some(&my.name), &format!(
        "SELECT k.TABLE_NAME, IF(k.CONSTRAINT_NAME = 'PRIMARY', 'PRIMARY KEY', 'FOREIGN KEY'), k.COLUMN_NAME, k.ORDINAL_POSITION
         FROM information_schema.KEY_COLUMN_USAGE k WHERE k.TABLE_SCHEMA = '{}'
         ORDER BY 1, 2, 4", my.name));
    let schema = format!("live.{}", my.name);
    let got = client.query(KEY_COLUMNS, &[&schema]).await.unwrap();
    let got: Vec<Vec<String>> = got
        .iter()
        .map(|r| vec![r.get::<_, String>(0), r.get(1), r.get(2), r.get::<_, i32>(3).to_string()])
        .collect();
    assert_eq!(got, mysql_keys);
    assert_eq!(got.len(), 5, "{got:?}");

    let src = pg_connect(5432, &pg.name).await;
    let pg_keys = rows(&src, "SELECT tc.table_name, tc.constraint_type, kcu.column_name, kcu.ordinal_position
        FROM information_schema.table_constraints tc JOIN information_schema.key_column_usage kcu
          ON kcu.constraint_name = tc.constraint_name AND kcu.table_name = tc.table_name
        WHERE tc.table_schema = 'public' AND tc.constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY') ORDER BY 1, 2, 4").await;
    let got = client.query(KEY_COLUMNS, &[&"crm.public"]).await.unwrap();
    let got: Vec<Vec<String>> = got
        .iter()
        .map(|r| vec![r.get::<_, String>(0), r.get(1), r.get(2), r.get::<_, i32>(3).to_string()])
        .collect();
    assert_eq!(got, pg_keys);

    // The foreign key points at the referenced primary key, column by column.
    let refs = rows(&client, "SELECT rc.constraint_name, rc.unique_constraint_name, kcu.column_name, kcu.position_in_unique_constraint
        FROM information_schema.referential_constraints rc JOIN information_schema.key_column_usage kcu
          ON kcu.constraint_name = rc.constraint_name AND kcu.constraint_schema = rc.constraint_schema
        WHERE rc.constraint_schema = 'crm.public' ORDER BY kcu.ordinal_position").await;
    assert_eq!(refs, [["child_pa_pb_fkey", "parent_pkey", "pa", "1"], ["child_pa_pb_fkey", "parent_pkey", "pb", "2"]]);

    // pg_constraint: conkey holds column numbers; pg_get_constraintdef spells the key.
    let defs = rows(&client, "SELECT c.conname, c.contype, pg_get_constraintdef(c.oid)
        FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_class t ON t.oid = c.conrelid
        JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
        WHERE n.nspname = 'crm.public' AND t.relname = 'child' ORDER BY 1").await;
    assert_eq!(defs, [
        vec!["child_pa_pb_fkey".to_string(), "f".into(), "FOREIGN KEY (pa, pb) REFERENCES \"crm.public\".parent(a, b)".into()],
        vec!["child_pkey".to_string(), "p".into(), "PRIMARY KEY (id)".into()],
    ]);
    let fk_columns = rows(&client, "SELECT a.attname FROM pg_catalog.pg_constraint c
        JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey)
        WHERE c.conname = 'child_pa_pb_fkey' ORDER BY a.attnum").await;
    assert_eq!(fk_columns, [["pb"], ["pa"]]);
    assert_eq!(rows(&client, "SELECT count(*) FROM information_schema.table_constraints WHERE table_name = 'loose'").await, [["0"]]);
}

/// pgjdbc's `DatabaseMetaData.getPrimaryKeys` query (42.5), verbatim but for the names:
/// `_pg_expandarray` over `pg_index.indkey`, read back with `(...).n` and `(...).x`.
fn pgjdbc_primary_keys(schema: &str, table: &str) -> String {
    format!("SELECT        result.TABLE_CAT,        result.TABLE_SCHEM,        result.TABLE_NAME,        result.COLUMN_NAME,        result.KEY_SEQ,        result.PK_NAME FROM      (SELECT NULL AS TABLE_CAT, n.nspname AS TABLE_SCHEM,   ct.relname AS TABLE_NAME, a.attname AS COLUMN_NAME,   (information_schema._pg_expandarray(i.indkey)).n AS KEY_SEQ, ci.relname AS PK_NAME,   information_schema._pg_expandarray(i.indkey) AS KEYS, a.attnum AS A_ATTNUM FROM pg_catalog.pg_class ct   JOIN pg_catalog.pg_attribute a ON (ct.oid = a.attrelid)   JOIN pg_catalog.pg_namespace n ON (ct.relnamespace = n.oid)   JOIN pg_catalog.pg_index i ON ( a.attrelid = i.indrelid)   JOIN pg_catalog.pg_class ci ON (ci.oid = i.indexrelid) WHERE true  AND n.nspname = '{schema}' AND ct.relname = '{table}' AND i.indisprimary  ) result where  result.A_ATTNUM = (result.KEYS).x  ORDER BY result.table_name, result.pk_name, result.key_seq")
}

/// SQLAlchemy's get_pk_constraint (2.1): `unnest(indkey)` beside `generate_subscripts`.
fn sqlalchemy_primary_key(table_oid: &str) -> String {
    format!("SELECT attr.conrelid, array_agg(CAST(attr.attname AS TEXT) ORDER BY attr.ord) AS cols, attr.conname, min(attr.description) AS description, min(attr.indnkeyatts) AS indnkeyatts, bool_and(attr.indnullsnotdistinct) AS indnullsnotdistinct 
FROM (SELECT con.conrelid AS conrelid, con.conname AS conname, con.description AS description, con.ord AS ord, con.indnkeyatts AS indnkeyatts, con.indnullsnotdistinct AS indnullsnotdistinct, pg_catalog.pg_attribute.attname AS attname 
FROM pg_catalog.pg_attribute JOIN (SELECT pg_catalog.pg_constraint.conrelid AS conrelid, pg_catalog.pg_constraint.conname AS conname, unnest(pg_catalog.pg_index.indkey) AS attnum, generate_subscripts(pg_catalog.pg_index.indkey, 1) AS ord, pg_catalog.pg_index.indnkeyatts AS indnkeyatts, pg_catalog.pg_index.indnullsnotdistinct AS indnullsnotdistinct, pg_catalog.pg_description.description AS description 
FROM pg_catalog.pg_constraint JOIN pg_catalog.pg_index ON pg_catalog.pg_constraint.conindid = pg_catalog.pg_index.indexrelid LEFT OUTER JOIN pg_catalog.pg_description ON pg_catalog.pg_description.objoid = pg_catalog.pg_constraint.oid AND pg_catalog.pg_description.classoid = CAST('pg_catalog.pg_constraint' AS REGCLASS) 
WHERE pg_catalog.pg_constraint.contype = 'p' AND pg_catalog.pg_constraint.conrelid IN ({table_oid})) AS con ON pg_catalog.pg_attribute.attnum = con.attnum AND pg_catalog.pg_attribute.attrelid = con.conrelid 
WHERE con.conrelid IN ({table_oid})) AS attr GROUP BY attr.conrelid, attr.conname ORDER BY attr.conrelid, attr.conname")
}

/// The index behind each primary key answers pgjdbc's and SQLAlchemy's key queries as
/// PostgreSQL answers them about its own tables, and psql's pg_get_indexdef.
#[tokio::test]
async fn primary_key_indexes_answer_driver_queries_like_postgres() {
    let setup = "CREATE TABLE parent (note text, b int, a int, PRIMARY KEY (a, b));";
    let pg = PgDb::create(setup).await;
    let my = MysqlDb::create("CREATE TABLE parent (note TEXT, b INT, a INT, PRIMARY KEY (a, b)) ENGINE=InnoDB;");
    let cats = Catalogs::new().postgres("crm", &pg.name).mysql("live", &my.name);
    let server = Server::start(&cats);
    let client = server.client().await;
    let src = pg_connect(5432, &pg.name).await;

    let without_schema = |rows: Vec<Vec<String>>| -> Vec<Vec<String>> {
        rows.into_iter().map(|mut r| { r.remove(1); r }).collect()
    };
    let theirs = rows(&src, &pgjdbc_primary_keys("public", "parent")).await;
    assert_eq!(theirs.len(), 2, "{theirs:?}");
    let ours = rows(&client, &pgjdbc_primary_keys("crm.public", "parent")).await;
    assert_eq!(without_schema(ours), without_schema(theirs.clone()));
    // MySQL's PRIMARY key, under PostgreSQL's name for it.
    let mysql_ours = rows(&client, &pgjdbc_primary_keys(&format!("live.{}", my.name), "parent")).await;
    assert_eq!(without_schema(mysql_ours), without_schema(theirs));

    let oid_of = |schema: &str| format!("SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '{schema}' AND c.relname = 'parent'");
    let their_oid = rows(&src, &oid_of("public")).await.remove(0).remove(0);
    let our_oid = rows(&client, &oid_of("crm.public")).await.remove(0).remove(0);
    let keep = |r: Vec<Vec<String>>| -> Vec<Vec<String>> { r.into_iter().map(|r| r[1..3].to_vec()).collect() };
    let theirs = rows(&src, &sqlalchemy_primary_key(&their_oid)).await;
    assert_eq!(keep(rows(&client, &sqlalchemy_primary_key(&our_oid)).await), keep(theirs));

    let def = "SELECT pg_get_indexdef(i.indexrelid, 0, true), pg_get_indexdef(i.indexrelid, 2, true) FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indrelid WHERE c.relname = 'parent' AND i.indisprimary";
    let theirs = rows(&src, def).await;
    // public is on PostgreSQL's search path, so its name is left out there.
    assert_eq!(theirs, [["CREATE UNIQUE INDEX parent_pkey ON parent USING btree (a, b)", "b"]]);
    let ours = rows(&client, &format!("{def} AND c.relnamespace = (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'crm.public')")).await;
    assert_eq!(ours, [["CREATE UNIQUE INDEX parent_pkey ON \"crm.public\".parent USING btree (a, b)", "b"]]);
}
