//! The command line: `serve`, `check`, `query`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser as SqlParser;
use futures::StreamExt;

use tokio::runtime::Handle;

use crate::config::{self, ServerConfig};
use crate::engine::error::{classify, QueryError};
use crate::engine::{plan_statement, Engine, SessionSettings, Status};

#[derive(Parser)]
#[command(name = "fedsql", version, about = "One Postgres endpoint over MySQL, Redshift/PostgreSQL and Parquet")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve every catalog over the Postgres protocol.
    Serve {
        #[arg(long, default_value = "catalogs")]
        catalogs: PathBuf,
        #[arg(long, default_value = "127.0.0.1:5433")]
        listen: String,
        /// Server settings (data_dir, [limits], [shutdown]); defaults fit the machine.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Validate every catalog file, connect, and report each catalog.
    Check {
        #[arg(long, default_value = "catalogs")]
        catalogs: PathBuf,
    },
    /// Run one SQL text and print or write its result.
    Query {
        #[arg(long, default_value = "catalogs")]
        catalogs: PathBuf,
        sql: String,
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum OutputFormat {
    Table,
    Csv,
    Json,
    Parquet,
}

/// Stack of each runtime worker thread.
const WORKER_STACK_BYTES: usize = 32 * 1024 * 1024;

pub fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "fedsql=info,warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    // Planning recurses over the plan and expression trees; a generated 4-way join under an
    // INTERSECT overflowed tokio's default 2 MiB worker stack and aborted the server.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("fedsql-io")
        .thread_stack_size(WORKER_STACK_BYTES)
        .build()
        .expect("tokio runtime");
    // Queries that read sources execute here (see engine::execution).
    let execution = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("fedsql-exec")
        .thread_stack_size(WORKER_STACK_BYTES)
        .on_thread_start(crate::engine::lower_thread_priority)
        .build()
        .expect("tokio runtime");
    let code = runtime.block_on(run(cli.command, execution.handle().clone()));
    execution.shutdown_background();
    match code {
        Ok(code) => code,
        Err(e) => {
            eprintln!("fedsql: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn start(dir: &std::path::Path, server: &ServerConfig, cpu: Handle) -> Result<Arc<Engine>, String> {
    let configs = config::load_dir(dir).map_err(|e| e.to_string())?;
    Ok(Arc::new(Engine::start(configs, server, cpu).await?))
}

async fn run(command: Command, cpu: Handle) -> Result<ExitCode, String> {
    match command {
        Command::Serve { catalogs, listen, config } => {
            let server = match &config {
                Some(path) => ServerConfig::load(path)?,
                None => ServerConfig::default(),
            };
            let engine = start(&catalogs, &server, cpu).await?;
            for c in engine.catalogs() {
                let (schemas, tables) = c.counts();
                match c.status() {
                    Status::Available => tracing::info!(
                        catalog = c.name(),
                        schemas,
                        tables,
                        "catalog ready"
                    ),
                    Status::Unavailable(why) => {
                        tracing::warn!(catalog = c.name(), "{why}; will retry")
                    }
                }
            }
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
            let addr = listener.local_addr().map_err(|e| e.to_string())?;
            // Scripts wait for this line.
            eprintln!("fedsql listening on {addr}");
            crate::server::serve(engine, listener, server.shutdown.grace)
                .await
                .map_err(|e| e.to_string())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { catalogs } => {
            let engine = start(&catalogs, &ServerConfig::default(), cpu).await?;
            let mut ok = true;
            for c in engine.catalogs() {
                let (schemas, tables) = c.counts();
                let what = config::describe(c.config());
                match c.status() {
                    Status::Available => println!(
                        "{}\tok\t{} schemas\t{} tables\t{what}",
                        c.name(),
                        schemas,
                        tables
                    ),
                    Status::Unavailable(why) => {
                        ok = false;
                        println!("{}\tunavailable\t{why}", c.name());
                    }
                }
            }
            Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Query {
            catalogs,
            sql,
            format,
            output,
        } => {
            let engine = start(&catalogs, &ServerConfig::default(), cpu).await?;
            match query(&engine, &sql, format, output).await {
                Ok(()) => Ok(ExitCode::SUCCESS),
                Err(e) => {
                    eprintln!("ERROR {}: {}", e.sqlstate, e.message);
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}

/// The user a `fedsql query` runs as, for the per-user limit.
fn whoami() -> String {
    std::env::var("USER").unwrap_or_default()
}

async fn query(
    engine: &Engine,
    sql: &str,
    format: OutputFormat,
    output: Option<PathBuf>,
) -> Result<(), QueryError> {
    let statements = SqlParser::parse_sql(&PostgreSqlDialect {}, sql).map_err(|e| {
        QueryError::new(crate::engine::error::sqlstate::SYNTAX_ERROR, e.to_string())
    })?;
    let ctx = engine.session(&SessionSettings::default());
    let mut out: Box<dyn std::io::Write + Send> = match &output {
        Some(p) => Box::new(std::fs::File::create(p).map_err(|e| {
            QueryError::new("58030", format!("cannot write {}: {e}", p.display()))
        })?),
        None => Box::new(std::io::stdout()),
    };
    let io = |e: std::io::Error| QueryError::new("58030", e.to_string());
    let arrow = |e: datafusion::arrow::error::ArrowError| classify(&e.into());
    for stmt in statements {
        let plan = plan_statement(&ctx, &stmt).await?;
        let df = ctx.execute_logical_plan(plan).await.map_err(|e| classify(&e))?;
        let schema = Arc::new(df.schema().as_arrow().clone());
        let mut stream = engine.execute(df, &whoami()).await?;
        match format {
            OutputFormat::Table => {
                let mut batches: Vec<RecordBatch> = Vec::new();
                while let Some(b) = stream.next().await {
                    batches.push(b.map_err(|e| classify(&e))?);
                }
                let text = pretty_format_batches(&batches).map_err(arrow)?;
                writeln!(out, "{text}").map_err(io)?;
            }
            OutputFormat::Csv => {
                let mut w = datafusion::arrow::csv::Writer::new(&mut out);
                while let Some(b) = stream.next().await {
                    w.write(&b.map_err(|e| classify(&e))?).map_err(arrow)?;
                }
            }
            OutputFormat::Json => {
                let mut w = datafusion::arrow::json::LineDelimitedWriter::new(&mut out);
                while let Some(b) = stream.next().await {
                    w.write(&b.map_err(|e| classify(&e))?).map_err(arrow)?;
                }
                w.finish().map_err(arrow)?;
            }
            OutputFormat::Parquet => {
                if output.is_none() {
                    return Err(QueryError::new("22023", "--format parquet needs --output FILE"));
                }
                let mut w = datafusion::parquet::arrow::ArrowWriter::try_new(&mut out, schema, None)
                    .map_err(|e| QueryError::new("58030", e.to_string()))?;
                while let Some(b) = stream.next().await {
                    w.write(&b.map_err(|e| classify(&e))?)
                        .map_err(|e| QueryError::new("58030", e.to_string()))?;
                }
                w.close().map_err(|e| QueryError::new("58030", e.to_string()))?;
            }
        }
    }
    out.flush().map_err(io)?;
    Ok(())
}
