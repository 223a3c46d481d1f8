//! The command line: `serve`, `check`, `query`, `snapshot`, `passwd`.

mod snapshot;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
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
        /// Catalog files (default: the config's `catalogs`, else catalogs/).
        #[arg(long)]
        catalogs: Option<PathBuf>,
        /// HOST:PORT (default: the config's `listen`, else 127.0.0.1:5433).
        #[arg(long)]
        listen: Option<String>,
        /// Server settings: listen, catalogs, data_dir, [tls], [users], [grants], [limits],
        /// [shutdown]. Flags override it.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Serve a non-loopback address without authentication.
        #[arg(long)]
        insecure: bool,
        /// The data directory: spill files and snapshots (default: the config's
        /// `data_dir`, else ~/.local/share/fedsql).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Where snapshots are kept: a folder or s3://bucket/prefix/ (default: the
        /// config's `[snapshots] location`, else DATA/snapshots).
        #[arg(long)]
        snapshots: Option<String>,
    },
    /// Validate every catalog file, connect, and report each catalog.
    Check {
        #[arg(long, default_value = "catalogs")]
        catalogs: PathBuf,
    },
    /// Run one SQL text and print or write its result.
    Query {
        #[arg(long)]
        catalogs: Option<PathBuf>,
        sql: String,
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
        #[arg(long)]
        output: Option<PathBuf>,
        /// Server settings, for its users' grants.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Run as this user, with their grants (required when the config has users).
        #[arg(long)]
        user: Option<String>,
    },
    /// Snapshots on a running server.
    Snapshot {
        #[command(subcommand)]
        command: SnapshotCommand,
        /// The server, as a libpq URL (password from PGPASSWORD).
        #[arg(long, global = true, default_value = "postgresql://127.0.0.1:5433/fedsql")]
        server: String,
    },
    /// Read a password from stdin and print its SCRAM-SHA-256 verifier, for
    /// `[users.NAME] password = "..."`.
    Passwd {
        name: String,
        #[arg(long, default_value_t = crate::server::scram_iterations())]
        iterations: u32,
    },
}

#[derive(Subcommand)]
enum SnapshotCommand {
    /// Refresh one snapshot now, showing its progress (rows and bytes).
    Refresh { name: String },
    /// Every snapshot: state, rows, age, next refresh, last error.
    List,
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

/// `serving`: the server refreshes snapshots; other commands only read them.
async fn start(dir: &std::path::Path, server: &ServerConfig, cpu: Handle, serving: bool) -> Result<Arc<Engine>, String> {
    let configs = config::load_dir(dir)
        .and_then(|files| files.into_iter().map(crate::connectors::configure).collect::<Result<Vec<_>, _>>())
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(Engine::start(configs, server, cpu, serving, Arc::new(crate::pg::Postgres)).await?))
}

async fn run(command: Command, cpu: Handle) -> Result<ExitCode, String> {
    match command {
        Command::Serve { catalogs, listen, config, insecure, data, snapshots } => {
            let mut server = server_config(config.as_deref())?;
            if let Some(dir) = data {
                server.data_dir = dir;
            }
            if let Some(location) = snapshots {
                server.snapshots.location = Some(location);
            }
            let catalogs = catalogs.or_else(|| server.catalogs.clone()).unwrap_or_else(|| PathBuf::from("catalogs"));
            let listen = listen.or_else(|| server.listen.clone()).unwrap_or_else(|| "127.0.0.1:5433".into());
            refuse_open_trust(&listen, &server, insecure).await?;
            let engine = start(&catalogs, &server, cpu, true).await?;
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
            crate::server::serve(engine, listener).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { catalogs } => {
            let engine = start(&catalogs, &ServerConfig::default(), cpu, false).await?;
            let mut ok = true;
            for c in engine.catalogs() {
                let (schemas, tables) = c.counts();
                let what = c.describe();
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
        Command::Query { catalogs, sql, format, output, config, user } => {
            let server = server_config(config.as_deref())?;
            let catalogs = catalogs.or_else(|| server.catalogs.clone()).unwrap_or_else(|| PathBuf::from("catalogs"));
            let user = match user {
                Some(u) => u,
                None if server.users.is_empty() => whoami(),
                None => return Err("the config has users: pass --user NAME to run with their grants".into()),
            };
            let engine = start(&catalogs, &server, cpu, false).await?;
            match query(&engine, &sql, &user, format, output).await {
                Ok(()) => Ok(ExitCode::SUCCESS),
                Err(e) => {
                    eprintln!("ERROR {}: {}", e.sqlstate, e.message);
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Snapshot { command, server } => snapshot::run(&server, command.into()).await,
        Command::Passwd { name, iterations } => {
            let mut password = String::new();
            std::io::stdin().read_line(&mut password).map_err(|e| format!("reading the password: {e}"))?;
            let password = password.trim_end_matches(['\n', '\r']);
            if password.is_empty() {
                return Err("no password on stdin".into());
            }
            let salt = crate::server::random_salt();
            let verifier = crate::server::Verifier::from_password(password, &salt, iterations);
            eprintln!("# [users.{name}] password = \"<this line>\"");
            println!("{verifier}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

impl From<SnapshotCommand> for snapshot::Command {
    fn from(c: SnapshotCommand) -> Self {
        match c {
            SnapshotCommand::Refresh { name } => Self::Refresh(name),
            SnapshotCommand::List => Self::List,
        }
    }
}

/// The user a `fedsql query` runs as, for the per-user limit.
fn whoami() -> String {
    std::env::var("USER").unwrap_or_default()
}

fn server_config(path: Option<&std::path::Path>) -> Result<ServerConfig, String> {
    match path {
        Some(p) => ServerConfig::load(p),
        None => Ok(ServerConfig::default()),
    }
}

/// Anyone who can reach a non-loopback address could read every source: without users,
/// only `--insecure` serves one.
async fn refuse_open_trust(listen: &str, server: &ServerConfig, insecure: bool) -> Result<(), String> {
    if !server.users.is_empty() || insecure {
        return Ok(());
    }
    let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?
        .collect();
    if addrs.iter().all(|a| a.ip().is_loopback()) {
        return Ok(());
    }
    Err(format!(
        "refusing to serve {listen} without authentication: anyone who reaches it could read every catalog. \
         Add users to the config file ([users.NAME] password = \"...\", made by `fedsql passwd NAME`) \
         and pass --config, listen on 127.0.0.1, or pass --insecure"
    ))
}

async fn query(
    engine: &Engine,
    sql: &str,
    user: &str,
    format: OutputFormat,
    output: Option<PathBuf>,
) -> Result<(), QueryError> {
    let parser = crate::pg::SqlParser::new(engine.catalogs().iter().map(|c| c.name().to_string()).collect());
    let statements = crate::pg::parse_sql(&parser, sql)?;
    let ctx = engine.session(&SessionSettings { user: user.to_string(), ..SessionSettings::default() });
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
        crate::engine::check_no_parameters(&plan)?;
        let df = ctx.execute_logical_plan(plan).await.map_err(|e| classify(&e))?;
        let schema = Arc::new(df.schema().as_arrow().clone());
        let mut stream = engine.execute(df, user).await?;
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
