//! A PostgreSQL-shaped information_schema over the tool view: the columns tools read
//! (`udt_name`, `numeric_precision`, `is_nullable`, ...) with PostgreSQL type names.
//! DataFusion's own has Arrow names and lacks most of these columns.
//!
//! Rows are built when a query scans a table. Equality filters on `table_schema` and
//! `table_name` narrow which tables are described, so a tool asking about one table
//! does not make every source infer every schema.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, Int32Builder, RecordBatch, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{CatalogProvider, SchemaProvider, Session, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;

use super::ToolView;
use crate::pg::types::PgColumnType;
use crate::engine::DEFAULT_CATALOG;

/// One cell of a generated row.
enum Cell {
    Text(Option<String>),
    Int(Option<i32>),
}

fn text(s: impl Into<String>) -> Cell {
    Cell::Text(Some(s.into()))
}

const NULL: Cell = Cell::Text(None);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Schemata,
    Tables,
    Columns,
    Views,
    TablePrivileges,
    TableConstraints,
    KeyColumnUsage,
    ReferentialConstraints,
    ConstraintColumnUsage,
    Routines,
}

const KINDS: [(&str, Kind); 10] = [
    ("schemata", Kind::Schemata),
    ("tables", Kind::Tables),
    ("columns", Kind::Columns),
    ("views", Kind::Views),
    ("table_privileges", Kind::TablePrivileges),
    ("table_constraints", Kind::TableConstraints),
    ("key_column_usage", Kind::KeyColumnUsage),
    ("referential_constraints", Kind::ReferentialConstraints),
    ("constraint_column_usage", Kind::ConstraintColumnUsage),
    ("routines", Kind::Routines),
];

impl Kind {
    /// Column names; those listed in `INT_COLUMNS` are int4, the rest text.
    fn columns(self) -> &'static [&'static str] {
        match self {
            Kind::Schemata => &["catalog_name", "schema_name", "schema_owner", "default_character_set_catalog",
                "default_character_set_schema", "default_character_set_name", "sql_path"],
            Kind::Tables => &["table_catalog", "table_schema", "table_name", "table_type",
                "self_referencing_column_name", "reference_generation", "user_defined_type_catalog",
                "user_defined_type_schema", "user_defined_type_name", "is_insertable_into", "is_typed",
                "commit_action"],
            Kind::Columns => &["table_catalog", "table_schema", "table_name", "column_name", "ordinal_position",
                "column_default", "is_nullable", "data_type", "character_maximum_length",
                "character_octet_length", "numeric_precision", "numeric_precision_radix", "numeric_scale",
                "datetime_precision", "interval_type", "interval_precision", "character_set_catalog",
                "character_set_schema", "character_set_name", "collation_catalog", "collation_schema",
                "collation_name", "domain_catalog", "domain_schema", "domain_name", "udt_catalog", "udt_schema",
                "udt_name", "scope_catalog", "scope_schema", "scope_name", "maximum_cardinality",
                "dtd_identifier", "is_self_referencing", "is_identity", "identity_generation", "identity_start",
                "identity_increment", "identity_maximum", "identity_minimum", "identity_cycle", "is_generated",
                "generation_expression", "is_updatable"],
            Kind::Views => &["table_catalog", "table_schema", "table_name", "view_definition", "check_option",
                "is_updatable", "is_insertable_into", "is_trigger_updatable", "is_trigger_deletable",
                "is_trigger_insertable_into"],
            Kind::TablePrivileges => &["grantor", "grantee", "table_catalog", "table_schema", "table_name",
                "privilege_type", "is_grantable", "with_hierarchy"],
            Kind::TableConstraints => &["constraint_catalog", "constraint_schema", "constraint_name",
                "table_catalog", "table_schema", "table_name", "constraint_type", "is_deferrable",
                "initially_deferred", "enforced", "nulls_distinct"],
            Kind::KeyColumnUsage => &["constraint_catalog", "constraint_schema", "constraint_name",
                "table_catalog", "table_schema", "table_name", "column_name", "ordinal_position",
                "position_in_unique_constraint"],
            Kind::ReferentialConstraints => &["constraint_catalog", "constraint_schema", "constraint_name",
                "unique_constraint_catalog", "unique_constraint_schema", "unique_constraint_name",
                "match_option", "update_rule", "delete_rule"],
            Kind::ConstraintColumnUsage => &["table_catalog", "table_schema", "table_name", "column_name",
                "constraint_catalog", "constraint_schema", "constraint_name"],
            Kind::Routines => &["specific_catalog", "specific_schema", "specific_name", "routine_catalog",
                "routine_schema", "routine_name", "routine_type", "data_type", "type_udt_name",
                "external_language"],
        }
    }

    fn schema(self) -> SchemaRef {
        const INT_COLUMNS: [&str; 10] = ["ordinal_position", "character_maximum_length", "character_octet_length",
            "numeric_precision", "numeric_precision_radix", "numeric_scale", "datetime_precision",
            "interval_precision", "maximum_cardinality", "position_in_unique_constraint"];
        Arc::new(Schema::new(
            self.columns()
                .iter()
                .map(|c| {
                    let ty = if INT_COLUMNS.contains(c) { DataType::Int32 } else { DataType::Utf8 };
                    Field::new(*c, ty, true)
                })
                .collect::<Vec<_>>(),
        ))
    }

    /// Whether rows depend on each table's columns or type (so tables must be opened).
    fn opens_tables(self) -> bool {
        matches!(self, Kind::Tables | Kind::Columns | Kind::Views)
    }
}

/// Which tables a scan describes: equality filters on schema and table names.
#[derive(Default)]
struct Narrowing {
    schema: Option<String>,
    table: Option<String>,
}

impl Narrowing {
    fn from_filters(filters: &[Expr]) -> Self {
        let mut n = Narrowing::default();
        for f in filters {
            let Expr::BinaryExpr(BinaryExpr { left, op: Operator::Eq, right }) = f else { continue };
            let (col, lit) = match (left.as_ref(), right.as_ref()) {
                (Expr::Column(c), Expr::Literal(v, _)) | (Expr::Literal(v, _), Expr::Column(c)) => (c, v),
                _ => continue,
            };
            let value = match lit {
                ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => s.clone(),
                _ => continue,
            };
            match col.name.as_str() {
                "table_schema" | "schema_name" => n.schema = Some(value),
                "table_name" => n.table = Some(value),
                _ => {}
            }
        }
        n
    }
}

#[derive(Debug)]
struct InfoTable {
    kind: Kind,
    view: ToolView,
}

impl InfoTable {
    async fn rows(&self, narrow: &Narrowing) -> Vec<Vec<Cell>> {
        let view = &self.view;
        let mut rows = Vec::new();
        let schemas: Vec<String> = view
            .0
            .schema_list()
            .into_iter()
            .filter(|s| narrow.schema.as_ref().is_none_or(|n| n == s))
            .collect();
        if self.kind == Kind::Schemata {
            for s in schemas {
                rows.push(vec![text(DEFAULT_CATALOG), text(s), text("fedsql"), NULL, NULL, NULL, NULL]);
            }
            return rows;
        }
        if self.kind == Kind::Routines {
            return rows;
        }
        if !matches!(self.kind, Kind::Tables | Kind::Columns | Kind::Views | Kind::TablePrivileges) {
            return self.key_rows(narrow);
        }
        for schema in schemas {
            let Some(provider) = view.0.schema(&schema) else { continue };
            let mut tables = provider.table_names();
            tables.sort();
            for table in tables.into_iter().filter(|t| narrow.table.as_ref().is_none_or(|n| n == t)) {
                let opened = if self.kind.opens_tables() {
                    match view.table(&schema, &table).await {
                        Some(t) => Some(t),
                        None => continue,
                    }
                } else {
                    None
                };
                let is_view = opened.as_ref().is_some_and(|t| view.kind(&schema, &table, t) == TableType::View);
                match self.kind {
                    Kind::Tables => rows.push(vec![
                        text(DEFAULT_CATALOG), text(&schema), text(&table),
                        text(if is_view { "VIEW" } else { "BASE TABLE" }),
                        NULL, NULL, NULL, NULL, NULL, text("NO"), text("NO"), NULL,
                    ]),
                    Kind::Views if is_view => rows.push(vec![
                        text(DEFAULT_CATALOG), text(&schema), text(&table), NULL, text("NONE"),
                        text("NO"), text("NO"), text("NO"), text("NO"), text("NO"),
                    ]),
                    Kind::Views => {}
                    Kind::TablePrivileges => rows.push(vec![
                        text("fedsql"), text("PUBLIC"), text(DEFAULT_CATALOG), text(&schema), text(&table),
                        text("SELECT"), text("NO"), text("YES"),
                    ]),
                    Kind::Columns => {
                        let arrow = opened.expect("columns open their table").schema();
                        for (i, field) in arrow.fields().iter().enumerate() {
                            rows.push(column_row(&schema, &table, i, field));
                        }
                    }
                    _ => unreachable!("constraint kinds return early"),
                }
            }
        }
        rows
    }
}

impl InfoTable {
    /// Rows of the four constraint tables, from the keys sources declare.
    fn key_rows(&self, narrow: &Narrowing) -> Vec<Vec<Cell>> {
        let mut rows = Vec::new();
        for source in &self.view.0.sources {
            let keys = source.keys();
            let named = |schema: &str| format!("{}.{schema}", source.name());
            let primary = |schema: &str, table: &str| {
                keys.iter().find(|k| k.references.is_none() && k.schema == schema && k.table == table)
            };
            for key in &keys {
                let hidden = !self.view.0.visible(source.name(), &key.schema, &key.table)
                    || key.references.as_ref().is_some_and(|(s, t, _)| !self.view.0.visible(source.name(), s, t));
                if hidden {
                    continue;
                }
                let schema = named(&key.schema);
                let head = || vec![text(DEFAULT_CATALOG), text(&schema), text(&key.name)];
                match (self.kind, &key.references) {
                    (Kind::TableConstraints, r) => {
                        let mut row = head();
                        row.extend([text(DEFAULT_CATALOG), text(&schema), text(&key.table)]);
                        row.push(text(if r.is_some() { "FOREIGN KEY" } else { "PRIMARY KEY" }));
                        row.extend([text("NO"), text("NO"), text("YES"), NULL]);
                        rows.push(row);
                    }
                    (Kind::KeyColumnUsage, r) => {
                        for (i, column) in key.columns.iter().enumerate() {
                            // Where the referenced column sits in the referenced primary key.
                            let position = r.as_ref().and_then(|(rs, rt, rc)| {
                                let pk = primary(rs, rt)?;
                                pk.columns.iter().position(|c| Some(c) == rc.get(i)).map(|p| p as i32 + 1)
                            });
                            let mut row = head();
                            row.extend([text(DEFAULT_CATALOG), text(&schema), text(&key.table), text(column)]);
                            row.extend([Cell::Int(Some(i as i32 + 1)), Cell::Int(position)]);
                            rows.push(row);
                        }
                    }
                    (Kind::ReferentialConstraints, Some((rs, rt, _))) => {
                        let unique = primary(rs, rt).map(|pk| pk.name.clone());
                        let mut row = head();
                        row.extend([text(DEFAULT_CATALOG), text(named(rs)), Cell::Text(unique)]);
                        row.extend([text("NONE"), text("NO ACTION"), text("NO ACTION")]);
                        rows.push(row);
                    }
                    (Kind::ConstraintColumnUsage, r) => {
                        // A foreign key uses the columns it references.
                        let (used_schema, used_table, used) = match r {
                            Some((rs, rt, rc)) => (named(rs), rt.as_str(), rc),
                            None => (schema.clone(), key.table.as_str(), &key.columns),
                        };
                        for column in used {
                            let mut row = vec![text(DEFAULT_CATALOG), text(&used_schema), text(used_table), text(column)];
                            row.extend(head());
                            rows.push(row);
                        }
                    }
                    _ => {}
                }
            }
        }
        let columns = self.kind.columns();
        let at = |name: &str| columns.iter().position(|c| *c == name);
        let equals = |row: &Vec<Cell>, index: Option<usize>, want: &Option<String>| match (index, want) {
            (Some(i), Some(w)) => matches!(&row[i], Cell::Text(Some(v)) if v == w),
            _ => true,
        };
        let (schema_at, table_at) = (at("table_schema"), at("table_name"));
        rows.retain(|r| equals(r, schema_at, &narrow.schema) && equals(r, table_at, &narrow.table));
        rows
    }
}

fn column_row(schema: &str, table: &str, index: usize, field: &Field) -> Vec<Cell> {
    let t = PgColumnType::of_field(field);
    let mut row = vec![
        text(DEFAULT_CATALOG), text(schema), text(table), text(field.name()), Cell::Int(Some(index as i32 + 1)),
        NULL, text(if field.is_nullable() { "YES" } else { "NO" }), text(t.data_type),
        Cell::Int(t.character_maximum_length), Cell::Int(t.character_octet_length), Cell::Int(t.numeric_precision), Cell::Int(t.numeric_precision_radix),
        Cell::Int(t.numeric_scale), Cell::Int(t.datetime_precision), NULL, Cell::Int(None),
    ];
    row.extend([NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL]); // character set, collation, domain
    row.extend([text(DEFAULT_CATALOG), text("pg_catalog"), text(t.udt_name)]);
    row.extend([NULL, NULL, NULL, Cell::Int(None), text((index + 1).to_string()), text("NO"), text("NO")]);
    row.extend([NULL, NULL, NULL, NULL, NULL, text("NO"), text("NEVER"), NULL, text("NO")]);
    row
}

fn to_batch(schema: &SchemaRef, rows: Vec<Vec<Cell>>) -> DfResult<RecordBatch> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (i, field) in schema.fields().iter().enumerate() {
        let array: ArrayRef = if field.data_type() == &DataType::Int32 {
            let mut b = Int32Builder::with_capacity(rows.len());
            for r in &rows {
                match &r[i] {
                    Cell::Int(v) => b.append_option(*v),
                    Cell::Text(_) => b.append_null(),
                }
            }
            Arc::new(b.finish())
        } else {
            let mut b = StringBuilder::new();
            for r in &rows {
                match &r[i] {
                    Cell::Text(v) => b.append_option(v.as_deref()),
                    Cell::Int(v) => b.append_option(v.map(|v| v.to_string())),
                }
            }
            Arc::new(b.finish())
        };
        columns.push(array);
    }
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

#[async_trait]
impl TableProvider for InfoTable {
    fn schema(&self) -> SchemaRef {
        self.kind.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let schema = self.schema();
        let rows = self.rows(&Narrowing::from_filters(filters)).await;
        let batch = to_batch(&schema, rows)?;
        MemTable::try_new(schema, vec![vec![batch]])?.scan(state, projection, &[], limit).await
    }
}

/// The `information_schema` schema of the default catalog.
#[derive(Debug)]
pub struct InformationSchema {
    view: ToolView,
}

impl InformationSchema {
    pub fn new(view: ToolView) -> Self {
        Self { view }
    }
}

#[async_trait]
impl SchemaProvider for InformationSchema {
    fn table_names(&self) -> Vec<String> {
        KINDS.iter().map(|(n, _)| n.to_string()).collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        Ok(KINDS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, kind)| Arc::new(InfoTable { kind: *kind, view: self.view.clone() }) as Arc<dyn TableProvider>))
    }

    fn table_exist(&self, name: &str) -> bool {
        KINDS.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
    }
}
