//! `REFRESH SNAPSHOT catalog.schema.table`: refreshes one snapshot now and answers, when
//! it is done, with one row saying what it read. Admins only: a refresh reads the source.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::{DFSchema, ParamValues};
use datafusion::logical_expr::{EmptyRelation, LogicalPlan};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Statement, Value};
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::QueryHook;
use pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo, QueryResponse, Response};
use pgwire::api::{ClientInfo, Type};
use pgwire::error::PgWireResult;

use crate::pg::rewrite::REFRESH_SNAPSHOT;
use crate::engine::error::sqlstate;
use crate::engine::{Access, Engine};

pub struct SnapshotCommands(pub Arc<Engine>);

const COLUMNS: &[(&str, Type)] = &[
    ("snapshot", Type::TEXT),
    ("version", Type::INT8),
    ("rows", Type::INT8),
    ("rows_read", Type::INT8),
    ("statements", Type::INT8),
    ("full", Type::BOOL),
    ("duration_ms", Type::INT8),
];

/// The snapshot a `CALL fedsql_refresh_snapshot('name')` names.
fn target(statement: &Statement) -> Option<String> {
    let Statement::Call(f) = statement else { return None };
    if !f.name.to_string().eq_ignore_ascii_case(REFRESH_SNAPSHOT) {
        return None;
    }
    let FunctionArguments::List(list) = &f.args else { return Some(String::new()) };
    match list.args.as_slice() {
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(v)))] => match &v.value {
            Value::SingleQuotedString(s) => Some(s.clone()),
            _ => Some(String::new()),
        },
        _ => Some(String::new()),
    }
}


impl SnapshotCommands {
    async fn run(&self, name: String, ctx: &SessionContext) -> PgWireResult<Response> {
        let access = ctx.state().config().get_extension::<Access>();
        if !matches!(access.as_deref(), Some(Access::All)) {
            return Err(super::refused(sqlstate::INSUFFICIENT_PRIVILEGE, "permission denied: REFRESH SNAPSHOT reads the source and needs an admin user"));
        }
        let parts: Vec<&str> = name.splitn(3, '.').collect();
        let [catalog_name, schema, table] = parts.as_slice() else {
            return Err(super::refused(sqlstate::SYNTAX_ERROR, format!("REFRESH SNAPSHOT takes catalog.schema.table, not `{name}`")));
        };
        let catalog = self.0.catalogs().iter().find(|c| c.name() == *catalog_name).cloned();
        let Some(catalog) = catalog else {
            return Err(super::refused(sqlstate::INVALID_CATALOG_NAME, format!("catalog \"{catalog_name}\" does not exist")));
        };
        let Some(snapshot) = catalog.snapshot(schema, table) else {
            return Err(super::refused(sqlstate::UNDEFINED_TABLE, format!("{name} is not snapshotted (no [[snapshot]] in catalog {catalog_name} covers it)")));
        };
        let last = snapshot
            .refresh(&catalog)
            .await
            .map_err(|e| super::refused(sqlstate::CONNECTION_FAILURE, format!("refresh of snapshot {name} failed; the previous version still serves: {e}")))?;
        let report = snapshot.report();
        let fields: Arc<Vec<FieldInfo>> = Arc::new(
            COLUMNS.iter().map(|(n, t)| FieldInfo::new(n.to_string(), None, None, t.clone(), FieldFormat::Text)).collect(),
        );
        let mut encoder = DataRowEncoder::new(fields.clone());
        encoder.encode_field(&Some(report.name))?;
        encoder.encode_field(&report.version.map(|v| v as i64))?;
        encoder.encode_field(&report.rows.map(|v| v as i64))?;
        encoder.encode_field(&Some(last.rows_read as i64))?;
        encoder.encode_field(&Some(last.statements as i64))?;
        encoder.encode_field(&Some(last.full))?;
        encoder.encode_field(&Some(last.took.as_millis() as i64))?;
        let rows = vec![Ok(encoder.take_row())];
        Ok(Response::Query(QueryResponse::new(fields, futures::stream::iter(rows))))
    }
}

fn plan() -> LogicalPlan {
    let fields: Vec<Field> = COLUMNS
        .iter()
        .map(|(n, t)| {
            let dt = match *t {
                Type::INT8 => DataType::Int64,
                Type::BOOL => DataType::Boolean,
                _ => DataType::Utf8,
            };
            Field::new(*n, dt, true)
        })
        .collect();
    let schema = DFSchema::try_from(Schema::new(fields)).expect("distinct column names");
    LogicalPlan::EmptyRelation(EmptyRelation { produce_one_row: false, schema: Arc::new(schema) })
}

#[async_trait]
impl QueryHook for SnapshotCommands {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        let name = target(statement)?;
        Some(self.run(name, ctx).await)
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        target(statement).map(|_| Ok(plan()))
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        let name = target(statement)?;
        Some(self.run(name, ctx).await)
    }
}
