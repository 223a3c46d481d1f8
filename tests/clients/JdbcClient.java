// pgjdbc (Debian's libpostgresql-jdbc-java) against a running fedsql; run by
// tests/clients.rs with FEDSQL_PORT and SHOP_SCHEMA set. Exits non-zero on a wrong answer.
import java.math.BigDecimal;
import java.sql.*;
import java.util.*;

public class JdbcClient {
    static void eq(Object got, Object want, String what) {
        if (!Objects.equals(got, want)) {
            throw new AssertionError(what + ": got " + got + ", want " + want);
        }
    }

    public static void main(String[] args) throws Exception {
        String port = System.getenv("FEDSQL_PORT");
        String shop = "shop." + System.getenv("SHOP_SCHEMA");
        Properties props = new Properties();
        props.setProperty("user", "analyst");
        props.setProperty("ApplicationName", "jdbc-test");
        try (Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port + "/fedsql", props)) {
            DatabaseMetaData md = c.getMetaData();
            eq(md.getDatabaseMajorVersion(), 16, "server major version");

            // Named server-side statements start after prepareThreshold (5) executions.
            try (PreparedStatement ps = c.prepareStatement("SELECT balance FROM crm.public.members WHERE member_id = ?")) {
                for (int i = 0; i < 8; i++) {
                    ps.setLong(1, 1);
                    try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        eq(rs.getBigDecimal(1), new BigDecimal("12345678901234567890.0123456789"), "numeric, execution " + i);
                    }
                }
            }
            // fetchSize with autocommit off: a portal read in chunks.
            c.setAutoCommit(false);
            try (Statement st = c.createStatement()) {
                st.setFetchSize(1000);
                try (ResultSet rs = st.executeQuery("SELECT id FROM history.api.api_call_log")) {
                    int n = 0;
                    while (rs.next()) n++;
                    try (Statement count = c.createStatement();
                         ResultSet crs = count.executeQuery("SELECT count(*) FROM history.api.api_call_log")) {
                        crs.next();
                        eq((long) n, crs.getLong(1), "rows read with fetchSize");
                    }
                }
            }
            c.commit();
            c.setAutoCommit(true);
            try (Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("SELECT sum(amount) FROM \"" + shop + "\".payments")) {
                rs.next();
                eq(rs.getBigDecimal(1), new BigDecimal("100000000001000.1234"), "decimal sum");
            }
            // A source's uuid is a java.util.UUID, as PostgreSQL's own is (binary after the
            // prepare threshold).
            try (PreparedStatement ps = c.prepareStatement("SELECT ext_id FROM crm.public.members WHERE member_id = ?")) {
                for (int i = 0; i < 7; i++) {
                    ps.setLong(1, 1);
                    try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        eq(rs.getObject(1), java.util.UUID.fromString("0b9f3c3e-8d5e-4f7a-9a51-2f4b7c8d9e10"), "uuid, execution " + i);
                    }
                }
            }
            try (Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("SHOW application_name")) {
                rs.next();
                eq(rs.getString(1), "jdbc-test", "application_name from startup");
            }

            // DatabaseMetaData, as DBeaver and Metabase browse.
            Set<String> schemas = new TreeSet<>();
            try (ResultSet rs = md.getSchemas()) {
                while (rs.next()) schemas.add(rs.getString("TABLE_SCHEM"));
            }
            for (String s : List.of("crm.public", "history.api", shop)) {
                if (!schemas.contains(s)) throw new AssertionError("getSchemas lacks " + s + ": " + schemas);
            }
            List<String> tables = new ArrayList<>();
            try (ResultSet rs = md.getTables(null, "crm.public", "%", new String[] {"TABLE", "VIEW"})) {
                while (rs.next()) {
                    tables.add(rs.getString("TABLE_NAME") + "/" + rs.getString("TABLE_TYPE") + "/" + rs.getString("REMARKS"));
                }
            }
            Collections.sort(tables);
            eq(tables, List.of("member_names/VIEW/null", "members/TABLE/null", "orgs/TABLE/Partner organisations"),
               "getTables: types and remarks");
            Map<String, String> types = new LinkedHashMap<>();
            Map<String, String> remarks = new LinkedHashMap<>();
            String balanceSize = null;
            try (ResultSet rs = md.getColumns(null, "crm.public", "members", "%")) {
                while (rs.next()) {
                    types.put(rs.getString("COLUMN_NAME"), rs.getString("TYPE_NAME"));
                    if (rs.getString("REMARKS") != null) remarks.put(rs.getString("COLUMN_NAME"), rs.getString("REMARKS"));
                    if (rs.getString("COLUMN_NAME").equals("balance")) {
                        balanceSize = rs.getInt("COLUMN_SIZE") + "," + rs.getInt("DECIMAL_DIGITS");
                    }
                }
            }
            eq(balanceSize, "30,10", "getColumns numeric(30,10) size and digits");
            eq(remarks, Map.of("name", "회원 이름", "balance", "Balance in KRW, exact"), "getColumns remarks");
            eq(types.get("member_id"), "int8", "getColumns member_id");
            eq(types.get("balance"), "numeric", "getColumns balance");
            eq(types.get("joined_at"), "timestamptz", "getColumns joined_at");
            eq(types.get("name"), "varchar", "getColumns name (varchar(40) in the source)");
            eq(types.get("profile"), "jsonb", "getColumns profile");
            eq(types.get("ext_id"), "uuid", "getColumns ext_id");
            List<String> pk = new ArrayList<>();
            try (ResultSet rs = md.getPrimaryKeys(null, "crm.public", "members")) {
                while (rs.next()) pk.add(rs.getString("COLUMN_NAME") + "/" + rs.getInt("KEY_SEQ") + "/" + rs.getString("PK_NAME"));
            }
            eq(pk, List.of("member_id/1/members_pkey"), "getPrimaryKeys on PostgreSQL");
            pk.clear();
            try (ResultSet rs = md.getPrimaryKeys(null, shop, "payments")) {
                while (rs.next()) pk.add(rs.getString("COLUMN_NAME") + "/" + rs.getInt("KEY_SEQ") + "/" + rs.getString("PK_NAME"));
            }
            eq(pk, List.of("id/1/payments_pkey"), "getPrimaryKeys on MySQL");
        }
        System.out.println("client ok: pgjdbc");
    }
}
