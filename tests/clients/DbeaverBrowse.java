// DBeaver's PostgreSQL navigator, replayed over pgjdbc: the statements DBeaver 24.x/25.x
// builds (plugins/org.jkiss.dbeaver.ext.postgresql, model/PostgreDataSource, PostgreDatabase,
// PostgreSchema: TableCache, ConstraintCache, IndexCache), verbatim, with its bindings
// (object OIDs by setLong), and results read by column label as DBeaver reads them.
// Run by tests/clients.rs with FEDSQL_PORT and SHOP_SCHEMA set; exits non-zero on a wrong answer.
import java.sql.*;
import java.util.*;

public class DbeaverBrowse {
    static final String TYPES = "SELECT t.oid,t.*,c.relkind,format_type(nullif(t.typbasetype, 0), t.typtypmod) as base_type_name, d.description\nFROM pg_catalog.pg_type t\nLEFT OUTER JOIN pg_catalog.pg_type et ON et.oid=t.typelem \nLEFT OUTER JOIN pg_catalog.pg_class c ON c.oid=t.typrelid\nLEFT OUTER JOIN pg_catalog.pg_description d ON t.oid=d.objoid\nWHERE t.typname IS NOT NULL\nAND (c.relkind IS NULL OR c.relkind = 'c') AND (et.typcategory IS NULL OR et.typcategory <> 'C')";
    static final String SCHEMAS = "SELECT n.oid,n.*,d.description FROM pg_catalog.pg_namespace n\nLEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=n.oid AND d.objsubid=0 AND d.classoid='pg_namespace'::regclass\n ORDER BY nspname";
    static final String TABLES = "SELECT c.oid,c.*,d.description,pg_catalog.pg_get_expr(c.relpartbound, c.oid) as partition_expr,  pg_catalog.pg_get_partkeydef(c.oid) as partition_key \nFROM pg_catalog.pg_class c\nLEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_class'::regclass\nWHERE c.relnamespace=? AND c.relkind not in ('i','I','c')";
    static final String SIZES = "select c.oid,pg_catalog.pg_total_relation_size(c.oid) as total_rel_size,pg_catalog.pg_relation_size(c.oid) as rel_size\nFROM pg_class c\nWHERE c.relnamespace=?";
    static final String COLUMNS = "SELECT c.relname,a.*,pg_catalog.pg_get_expr(ad.adbin, ad.adrelid, true) as def_value,dsc.description,dep.objid\nFROM pg_catalog.pg_attribute a\nINNER JOIN pg_catalog.pg_class c ON (a.attrelid=c.oid)\nLEFT OUTER JOIN pg_catalog.pg_attrdef ad ON (a.attrelid=ad.adrelid AND a.attnum = ad.adnum)\nLEFT OUTER JOIN pg_catalog.pg_description dsc ON (c.oid=dsc.objoid AND a.attnum = dsc.objsubid)\nLEFT OUTER JOIN pg_depend dep on dep.refobjid = a.attrelid AND dep.deptype = 'i' and dep.refobjsubid = a.attnum and dep.classid = dep.refclassid\nWHERE NOT a.attisdropped AND c.relkind not in ('i','I','c') AND c.oid=?\nORDER BY a.attnum";
    static final String CONSTRAINTS = "SELECT c.oid,c.*,t.relname as tabrelname,rt.relnamespace as refnamespace,d.description, case when c.contype='c' then \"substring\"(pg_get_constraintdef(c.oid), 7) else null end consrc_copy\nFROM pg_catalog.pg_constraint c\nINNER JOIN pg_catalog.pg_class t ON t.oid=c.conrelid\nLEFT OUTER JOIN pg_catalog.pg_class rt ON rt.oid=c.confrelid\nLEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_constraint'::regclass\nWHERE c.conrelid=?\nORDER BY c.oid";
    static final String REFERENCES = "SELECT DISTINCT connamespace FROM pg_catalog.pg_constraint WHERE confrelid=?";
    static final String INDEXES = "SELECT i.*,i.indkey as keys,c.relname,c.relnamespace,c.relam,c.reltablespace,tc.relname as tabrelname,dsc.description,pg_catalog.pg_get_expr(i.indpred, i.indrelid) as pred_expr,pg_catalog.pg_get_expr(i.indexprs, i.indrelid, true) as expr,pg_catalog.pg_relation_size(i.indexrelid) as index_rel_size,pg_catalog.pg_stat_get_numscans(i.indexrelid) as index_num_scans FROM pg_catalog.pg_index i\nINNER JOIN pg_catalog.pg_class c ON c.oid=i.indexrelid\nINNER JOIN pg_catalog.pg_class tc ON tc.oid=i.indrelid\nLEFT OUTER JOIN pg_catalog.pg_description dsc ON i.indexrelid=dsc.objoid\nWHERE  i.indrelid=? ORDER BY tabrelname, c.relname";
    static final String TABLESPACES = "SELECT t.oid,t.*,pg_tablespace_location(t.oid) loc\nFROM pg_catalog.pg_tablespace t \nORDER BY t.oid";

    static void eq(Object got, Object want, String what) {
        if (!Objects.equals(got, want)) {
            throw new AssertionError("dbeaver " + what + ": got " + got + ", want " + want);
        }
    }

    interface Row {
        void read(ResultSet rs) throws SQLException;
    }

    /** Runs `sql` as DBeaver does (a PreparedStatement, OIDs bound with setLong). */
    static int query(Connection c, String sql, Object[] params, Row row) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            for (int i = 0; i < params.length; i++) {
                if (params[i] instanceof Long) ps.setLong(i + 1, (Long) params[i]);
                else ps.setString(i + 1, (String) params[i]);
            }
            int n = 0;
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    row.read(rs);
                    n++;
                }
            }
            return n;
        }
    }

    public static void main(String[] args) throws Exception {
        String port = System.getenv("FEDSQL_PORT");
        String shop = "shop." + System.getenv("SHOP_SCHEMA");
        Properties props = new Properties();
        props.setProperty("user", "analyst");
        try (Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port + "/fedsql", props)) {
            // Connect: context defaults, the database row, settings, probes, data types.
            List<String> context = new ArrayList<>();
            query(c, "SELECT current_schema(),session_user", new Object[] {}, rs -> context.add(rs.getString(1)));
            eq(context, List.of("public"), "current_schema()");
            query(c, "SHOW search_path", new Object[] {}, rs -> context.add(rs.getString(1)));
            eq(context, List.of("public", "\"$user\", public"), "search_path");
            List<String> db = new ArrayList<>();
            query(c, "SELECT db.oid,db.* FROM pg_catalog.pg_database db WHERE datname=?", new Object[] {"fedsql"},
                  rs -> db.add(rs.getString("datname") + "/" + rs.getLong("oid")));
            eq(db.size(), 1, "database row " + db);
            List<String> setting = new ArrayList<>();
            query(c, "select * from pg_catalog.pg_settings where name=?", new Object[] {"standard_conforming_strings"},
                  rs -> setting.add(rs.getString("setting")));
            eq(setting, List.of("on"), "standard_conforming_strings");
            eq(query(c, "SELECT * FROM pg_catalog.pg_enum WHERE 1<>1 LIMIT 1", new Object[] {}, rs -> {}), 0, "pg_enum probe");
            eq(query(c, "SELECT reltype FROM pg_catalog.pg_class WHERE 1<>1 LIMIT 1", new Object[] {}, rs -> {}), 0, "reltype probe");
            Map<String, Long> types = new HashMap<>();
            query(c, TYPES, new Object[] {}, rs -> types.put(rs.getString("typname"), rs.getLong("oid")));
            eq(List.of(types.get("numeric"), types.get("jsonb"), types.get("uuid")), List.of(1700L, 3802L, 2950L), "data types");
            eq(query(c, "SELECT * FROM pg_catalog.pg_enum", new Object[] {}, rs -> {}), 0, "enums (fedsql has none)");

            // Schemas.
            Map<String, Long> schemas = new HashMap<>();
            query(c, SCHEMAS, new Object[] {}, rs -> schemas.put(rs.getString("nspname"), rs.getLong("oid")));
            for (String s : List.of("crm.public", "history.api", shop, "public")) {
                if (!schemas.containsKey(s)) throw new AssertionError("dbeaver schemas lack " + s + ": " + schemas);
            }

            // Tables and views of a schema, with their comments.
            Map<String, Long> oids = new HashMap<>();
            Map<String, String> tables = new TreeMap<>();
            Map<Long, Long> sizes = new HashMap<>();
            for (String s : List.of("crm.public", shop)) {
                query(c, TABLES, new Object[] {schemas.get(s)}, rs -> {
                    oids.put(rs.getString("relname"), rs.getLong("oid"));
                    tables.put(rs.getString("relname"), rs.getString("relkind") + "/" + rs.getString("description"));
                });
                query(c, SIZES, new Object[] {schemas.get(s)}, rs -> sizes.put(rs.getLong("oid"), rs.getLong("total_rel_size")));
            }
            eq(tables, new TreeMap<>(Map.of("orgs", "r/Partner organisations", "members", "r/null", "member_names", "v/null",
                                            "payments", "r/Card payments", "done_payments", "v/null")), "tables and views");
            // Sizes are the sources' own (PostgreSQL and MySQL count at least one 8/16 kB page).
            for (String t : List.of("orgs", "members", "payments")) {
                if (sizes.getOrDefault(oids.get(t), 0L) < 8192) throw new AssertionError("dbeaver size of " + t + ": " + sizes);
            }

            // Columns of a table: names, types, NOT NULL, comments.
            List<String> columns = new ArrayList<>();
            query(c, COLUMNS, new Object[] {oids.get("members")}, rs -> {
                if (rs.getInt("attnum") > 0) {
                    columns.add(rs.getString("attname") + "/" + rs.getLong("atttypid") + "/" + rs.getInt("atttypmod") + "/"
                        + rs.getBoolean("attnotnull") + "/" + rs.getString("description"));
                }
            });
            eq(columns.subList(0, 5), List.of("member_id/20/-1/true/null", "org_code/25/-1/true/null",
                "name/1043/44/true/회원 이름", "score/23/-1/false/null", "balance/1700/1966094/false/Balance in KRW, exact"),
               "columns of members");
            eq(columns.get(columns.size() - 1), "ext_id/2950/-1/false/null", "uuid column");

            // Constraints: the primary key and the foreign key, with their columns.
            List<String> constraints = new ArrayList<>();
            query(c, CONSTRAINTS, new Object[] {oids.get("members")}, rs -> {
                Object[] key = (Object[]) rs.getArray("conkey").getArray();
                constraints.add(rs.getString("conname") + "/" + rs.getString("contype") + "/" + Arrays.toString(key) + "/"
                    + rs.getLong("confrelid") + "/" + rs.getString("tabrelname"));
            });
            Collections.sort(constraints);
            eq(constraints, List.of("members_org_code_fkey/f/[2]/" + oids.get("orgs") + "/members", "members_pkey/p/[1]/0/members"),
               "constraints of members");
            List<Long> referencing = new ArrayList<>();
            query(c, REFERENCES, new Object[] {oids.get("orgs")}, rs -> referencing.add(rs.getLong(1)));
            eq(referencing, List.of(schemas.get("crm.public")), "schemas referencing orgs");

            // Indexes: the primary key's; indkey is an int2vector, whose text is `1` (pgjdbc's
            // getArray of one is empty, on PostgreSQL too).
            List<String> indexes = new ArrayList<>();
            query(c, INDEXES, new Object[] {oids.get("members")}, rs -> indexes.add(rs.getString("relname") + "/"
                + rs.getBoolean("indisprimary") + "/" + rs.getString("keys") + "/"
                + rs.getString("tabrelname")));
            eq(indexes, List.of("members_pkey/true/1/members"), "indexes of members");
            List<String> methods = new ArrayList<>();
            query(c, "SELECT am.oid,am.* FROM pg_catalog.pg_am am \nORDER BY am.oid", new Object[] {}, rs -> methods.add(rs.getString("amname")));
            if (!methods.contains("btree")) throw new AssertionError("dbeaver access methods: " + methods);
            List<String> locations = new ArrayList<>();
            query(c, TABLESPACES, new Object[] {}, rs -> locations.add(rs.getString("spcname") + "=" + rs.getString("loc")));
            eq(locations, List.of("pg_default=", "pg_global="), "tablespaces");
        }
        System.out.println("client ok: DBeaver's navigator");
    }
}
