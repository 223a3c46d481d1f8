//! `fedsql snapshot refresh NAME` and `fedsql snapshot list`: a client of a running
//! server, which alone writes its data directory. Progress comes from
//! `fedsql.snapshots`, read on a second connection while the refresh runs.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

pub enum Command {
    Refresh(String),
    List,
}

async fn connect(url: &str) -> Result<Client, String> {
    let mut config: tokio_postgres::Config = url.parse().map_err(|e| format!("--server {url}: {e}"))?;
    if config.get_password().is_none() {
        if let Ok(p) = std::env::var("PGPASSWORD") {
            config.password(p);
        }
    }
    let (client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|e| format!("cannot reach the server at {url}: {e}"))?;
    tokio::spawn(connection);
    Ok(client)
}

/// Rows of a simple query as text (NULL as empty).
async fn rows(client: &Client, sql: &str) -> Result<Vec<Vec<String>>, String> {
    let messages = client.simple_query(sql).await.map_err(describe)?;
    Ok(messages
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some((0..r.len()).map(|i| r.get(i).unwrap_or("").to_string()).collect()),
            _ => None,
        })
        .collect())
}

fn describe(e: tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("ERROR {}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// `catalog.schema.table` as an SQL name, each part quoted.
fn quoted(name: &str) -> Result<String, String> {
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
        return Err(format!("`{name}`: expected catalog.schema.table"));
    }
    Ok(parts.iter().map(|p| format!("\"{}\"", p.replace('"', "\"\""))).collect::<Vec<_>>().join("."))
}

pub async fn run(url: &str, command: Command) -> Result<ExitCode, String> {
    let client = connect(url).await?;
    match command {
        Command::List => {
            let header = ["name", "mode", "state", "rows", "bytes", "age_seconds", "next_refresh", "last_error"];
            let found = rows(&client, &format!("SELECT {} FROM fedsql.snapshots ORDER BY name", header.join(", "))).await?;
            println!("{}", header.join("\t"));
            for r in found {
                println!("{}", r.join("\t"));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Refresh(name) => refresh(url, &client, &name).await,
    }
}

async fn refresh(url: &str, client: &Client, name: &str) -> Result<ExitCode, String> {
    let sql = format!("REFRESH SNAPSHOT {}", quoted(name)?);
    let watcher = connect(url).await?;
    let progress_sql = format!(
        "SELECT refreshing_rows, refreshing_bytes FROM fedsql.snapshots WHERE name = '{}'",
        name.replace('\'', "''")
    );
    let bar = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(indicatif::ProgressStyle::with_template("{spinner} {elapsed} {msg}").expect("a valid template"));
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let started = Instant::now();
    let mut said = Instant::now();
    let done = rows(client, &sql);
    tokio::pin!(done);
    let result = loop {
        tokio::select! {
            r = &mut done => break r,
            _ = tokio::time::sleep(Duration::from_millis(200)) => {
                let Ok(p) = rows(&watcher, &progress_sql).await else { continue };
                let (Some(rows_read), Some(bytes)) = (p.first().and_then(|r| r[0].parse::<u64>().ok()), p.first().and_then(|r| r[1].parse::<u64>().ok())) else { continue };
                let msg = format!("{name}: {rows_read} rows read, {} written", bytesize::ByteSize(bytes));
                bar.set_message(msg.clone());
                bar.tick();
                if bar.is_hidden() && said.elapsed() >= Duration::from_secs(5) {
                    eprintln!("{msg}");
                    said = Instant::now();
                }
            }
        }
    };
    bar.finish_and_clear();
    match result {
        Ok(r) => {
            let r = r.first().cloned().unwrap_or_default();
            // snapshot, version, rows, rows_read, statements, full, duration_ms
            let get = |i: usize| r.get(i).cloned().unwrap_or_default();
            println!(
                "{}: version {}, {} rows; read {} rows in {} statements ({} refresh) in {:.1} s",
                get(0),
                get(1),
                get(2),
                get(3),
                get(4),
                if get(5) == "t" { "full" } else { "append" },
                started.elapsed().as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::FAILURE)
        }
    }
}
