//! `SET TIME ZONE x`, `SET timezone TO x` and `SET timezone = x`, validated and kept per
//! connection. (datafusion-postgres handles only the first form; the others were
//! answered `SET` and dropped.)

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::timezone::Tz;
use datafusion::common::{DFSchema, ParamValues};
use datafusion::logical_expr::{EmptyRelation, LogicalPlan};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{Expr, Set, Statement, Value};
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::QueryHook;
use pgwire::api::results::{Response, Tag};
use pgwire::api::ClientInfo;
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::startup::ParameterStatus;
use pgwire::messages::PgWireBackendMessage;

use super::METADATA_TIMEZONE;

pub struct TimeZoneHook;

/// The zone a statement sets, if it sets one.
fn zone(stmt: &Statement) -> Option<String> {
    let Statement::Set(set) = stmt else { return None };
    let value = match set {
        Set::SetTimeZone { value, .. } => value,
        Set::SingleAssignment { variable, values, .. }
            if matches!(variable.to_string().to_lowercase().as_str(), "timezone" | "time_zone") =>
        {
            values.first()?
        }
        _ => return None,
    };
    Some(match value {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
            other => other.to_string(),
        },
        Expr::Identifier(id) => id.value.clone(),
        other => other.to_string(),
    })
}

fn normalize(zone: &str) -> Result<String, PgWireError> {
    let z = match zone.to_ascii_uppercase().as_str() {
        "LOCAL" | "DEFAULT" | "UTC" | "GMT" | "Z" => "UTC".to_string(),
        _ => zone.to_string(),
    };
    z.parse::<Tz>().map(|_| z.clone()).map_err(|_| {
        PgWireError::UserError(Box::new(ErrorInfo::new(
            "ERROR".into(),
            "22023".into(),
            format!("invalid value for parameter \"TimeZone\": \"{zone}\""),
        )))
    })
}

async fn apply(zone: String, client: &mut dyn HookClient) -> PgWireResult<Response> {
    let zone = normalize(&zone)?;
    client.metadata_mut().insert(METADATA_TIMEZONE.to_string(), zone.clone());
    client
        .send_message(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
            "TimeZone".into(),
            zone,
        )))
        .await?;
    Ok(Response::Execution(Tag::new("SET")))
}

#[async_trait]
impl QueryHook for TimeZoneHook {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        let zone = zone(statement)?;
        Some(apply(zone, client).await)
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        zone(statement)?;
        Some(Ok(LogicalPlan::EmptyRelation(EmptyRelation {
            produce_one_row: false,
            schema: Arc::new(DFSchema::empty()),
        })))
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        _ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        let zone = zone(statement)?;
        Some(apply(zone, client).await)
    }
}
