//! Session commands fedsql answers itself (SET, SHOW, RESET, DISCARD, SAVEPOINT,
//! UNLISTEN, ...), on both protocols. See `settings` for the values.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::{DFSchema, ParamValues};
use datafusion::logical_expr::{EmptyRelation, LogicalPlan};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::QueryHook;
use pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::{ClientInfo, Type};
use pgwire::error::{PgWireError, PgWireResult};

use super::settings::{self, Change, Command};

pub struct SessionCommands;

fn rows_response(columns: Vec<String>, rows: Vec<Vec<String>>) -> PgWireResult<Response> {
    let fields: Arc<Vec<FieldInfo>> = Arc::new(
        columns
            .into_iter()
            .map(|c| FieldInfo::new(c, None, None, Type::TEXT, FieldFormat::Text))
            .collect(),
    );
    let mut encoded = Vec::with_capacity(rows.len());
    for row in rows {
        let mut encoder = DataRowEncoder::new(fields.clone());
        for v in row {
            encoder.encode_field(&Some(v))?;
        }
        encoded.push(Ok(encoder.take_row()));
    }
    Ok(Response::Query(QueryResponse::new(fields, futures::stream::iter(encoded))))
}

async fn report(client: &mut dyn HookClient, changes: Vec<Change>) -> PgWireResult<()> {
    for message in settings::status_messages(changes) {
        client.send_message(message).await?;
    }
    Ok(())
}

async fn run(command: Command, client: &mut dyn HookClient) -> PgWireResult<Response> {
    let tag = match command {
        Command::Set(name, value) => {
            let change = settings::set(client.metadata_mut(), &name, value.as_deref())?;
            report(client, change.into_iter().collect()).await?;
            "SET"
        }
        Command::SetIgnored => "SET",
        Command::SetIdentity(name) => {
            let me = client.metadata().get(pgwire::api::METADATA_USER).cloned().unwrap_or_default();
            if name.as_ref().is_some_and(|n| *n != me && !n.eq_ignore_ascii_case("none")) {
                return Err(PgWireError::from(settings::error(
                    crate::engine::error::sqlstate::INSUFFICIENT_PRIVILEGE,
                    format!("permission denied to set role \"{}\": a session keeps the user it logged in as (\"{me}\")", name.unwrap_or_default()),
                )));
            }
            "SET"
        }
        Command::Show(name) => {
            let value = settings::get(client.metadata(), &name).ok_or_else(|| {
                settings::error(
                    crate::engine::error::sqlstate::UNDEFINED_OBJECT,
                    format!("unrecognized configuration parameter \"{name}\""),
                )
            })?;
            return rows_response(vec![settings::shown_name(&name)], vec![vec![value]]);
        }
        Command::ShowAll => {
            let rows = settings::all(client.metadata()).into_iter().map(|(n, v, d)| vec![n, v, d]).collect();
            return rows_response(Command::ShowAll.show_column().unwrap_or_default(), rows);
        }
        Command::Reset(name) => {
            let change = settings::set(client.metadata_mut(), &name, None)?;
            report(client, change.into_iter().collect()).await?;
            "RESET"
        }
        Command::ResetAll => {
            let changes = settings::reset_all(client.metadata_mut());
            report(client, changes).await?;
            "RESET"
        }
        Command::DiscardAll => {
            let changes = settings::reset_all(client.metadata_mut());
            report(client, changes).await?;
            "DISCARD ALL"
        }
        Command::NoOp(tag) => tag,
    };
    Ok(Response::Execution(Tag::new(tag)))
}

/// The plan a command stands for at Parse: its result columns, or none.
fn plan(command: &Command) -> LogicalPlan {
    let fields: Vec<Field> = command
        .show_column()
        .unwrap_or_default()
        .into_iter()
        .map(|c| Field::new(c, DataType::Utf8, false))
        .collect();
    let schema = DFSchema::try_from(Schema::new(fields)).expect("distinct column names");
    LogicalPlan::EmptyRelation(EmptyRelation { produce_one_row: false, schema: Arc::new(schema) })
}

#[async_trait]
impl QueryHook for SessionCommands {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        let command = Command::of(statement)?;
        Some(run(command, client).await)
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        Command::of(statement).map(|c| Ok(plan(&c)))
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        _ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        let command = Command::of(statement)?;
        Some(run(command, client).await)
    }
}
