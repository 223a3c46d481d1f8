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
