//! Per-connection settings, as PostgreSQL keeps them: SET, SHOW, RESET, DISCARD,
//! `current_setting()` and `set_config()`, with real values and PostgreSQL's errors.
//! Values live in the client's metadata under their lowercase names, where pgwire's
//! encoder reads DateStyle, IntervalStyle, bytea_output and extra_float_digits.
//!
//! datafusion-postgres' SetShowHook answered SET of any unknown name with success and
//! dropped it, and SHOW of most names with an empty `unsupported_show_statement`.

use std::collections::HashMap;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    visit_expressions, visit_expressions_mut, CastKind, DataType as SqlDataType, Expr, FunctionArg,
    FunctionArgExpr, FunctionArguments, Ident, ObjectName, Reset, Set, Statement, Value,
};
use datafusion::common::ParamValues;
use crate::engine::error::{sqlstate, QueryError};

use crate::pg::{SERVER_VERSION, SERVER_VERSION_NUM};

/// How a setting may change.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Session,
    ReadOnly,
}

/// One setting: its lowercase name, the name PostgreSQL shows (ParameterStatus and the
/// SHOW column), its default, and whether clients are told of changes.
struct Param {
    name: &'static str,
    shown: &'static str,
    default: &'static str,
    reported: bool,
    access: Access,
    description: &'static str,
}

const fn p(name: &'static str, shown: &'static str, default: &'static str, reported: bool, description: &'static str) -> Param {
    Param { name, shown, default, reported, access: Access::Session, description }
}

const fn fixed(name: &'static str, shown: &'static str, default: &'static str, reported: bool, description: &'static str) -> Param {
    Param { name, shown, default, reported, access: Access::ReadOnly, description }
}

const PARAMS: &[Param] = &[
    p("application_name", "application_name", "", true, "Sets the application name to be reported in statistics and logs."),
    p("bytea_output", "bytea_output", "hex", false, "Sets the output format for bytea."),
    p("client_encoding", "client_encoding", "UTF8", true, "Sets the client's character set encoding."),
    p("client_min_messages", "client_min_messages", "notice", false, "Sets the message levels that are sent to the client."),
    p("datestyle", "DateStyle", "ISO, MDY", true, "Sets the display format for date and time values."),
    p("default_table_access_method", "default_table_access_method", "heap", false, "Sets the default table access method for new tables."),
    p("default_transaction_isolation", "default_transaction_isolation", "read committed", false, "Sets the transaction isolation level of each new transaction."),
    p("default_transaction_read_only", "default_transaction_read_only", "on", true, "Sets the default read-only status of new transactions."),
    // Off: every source is only scanned (with its filters), and the engine computes the rest.
    p("fedsql.pushdown", "fedsql.pushdown", "on", false, "fedsql: send whole single-source subtrees to their source (on) or only scans (off)."),
    p("extra_float_digits", "extra_float_digits", "1", false, "Sets the number of digits displayed for floating-point values."),
    p("idle_in_transaction_session_timeout", "idle_in_transaction_session_timeout", "0", false, "Sets the maximum allowed idle time between queries, when in a transaction."),
    p("idle_session_timeout", "idle_session_timeout", "0", false, "Sets the maximum allowed idle time between queries, when not in a transaction."),
    fixed("in_hot_standby", "in_hot_standby", "off", true, "Shows whether hot standby is currently active."),
    fixed("integer_datetimes", "integer_datetimes", "on", true, "Shows whether datetimes are integer based."),
    p("intervalstyle", "IntervalStyle", "postgres", true, "Sets the display format for interval values."),
    fixed("is_superuser", "is_superuser", "off", true, "Shows whether the current user is a superuser."),
    p("jit", "jit", "off", false, "Allow JIT compilation."),
    fixed("lc_collate", "lc_collate", "C", false, "Shows the collation order locale."),
    fixed("lc_ctype", "lc_ctype", "C", false, "Shows the character classification and case conversion locale."),
    p("lc_messages", "lc_messages", "C", false, "Sets the language in which messages are displayed."),
    p("lc_monetary", "lc_monetary", "C", false, "Sets the locale for formatting monetary amounts."),
    p("lc_numeric", "lc_numeric", "C", false, "Sets the locale for formatting numbers."),
    p("lc_time", "lc_time", "C", false, "Sets the locale for formatting date and time values."),
    p("lock_timeout", "lock_timeout", "0", false, "Sets the maximum allowed duration of any wait for a lock."),
    fixed("max_identifier_length", "max_identifier_length", "63", false, "Shows the maximum identifier length."),
    // Redshift's workload label; Redash sends `set query_group to ...` before each query.
    // force_custom_plan plans each Execute with its values instead of keeping the plan.
    p("plan_cache_mode", "plan_cache_mode", "auto", false, "Controls the planner's selection of custom or generic plan."),
    p("query_group", "query_group", "default", false, "Redshift: the query group of the session (accepted, not used)."),
    p("search_path", "search_path", "\"$user\", public", true, "Sets the schema search order for names that are not schema-qualified."),
    fixed("server_encoding", "server_encoding", "UTF8", true, "Shows the server (database) character set encoding."),
    fixed("server_version", "server_version", SERVER_VERSION, true, "Shows the server version."),
    fixed("server_version_num", "server_version_num", SERVER_VERSION_NUM, false, "Shows the server version as an integer."),
    p("standard_conforming_strings", "standard_conforming_strings", "on", true, "Causes '...' strings to treat backslashes literally."),
    p("statement_timeout", "statement_timeout", "0", false, "Sets the maximum allowed duration of any statement."),
    p("timezone", "TimeZone", "UTC", true, "Sets the time zone for displaying and interpreting time stamps."),
    p("transaction_isolation", "transaction_isolation", "read committed", false, "Sets the current transaction's isolation level."),
    p("transaction_read_only", "transaction_read_only", "on", false, "Sets the current transaction's read-only status."),
    p("work_mem", "work_mem", "4MB", false, "Sets the maximum memory to be used for query workspaces."),
];

/// Where statement_timeout is kept parsed, in milliseconds (read by the server).
pub const METADATA_STATEMENT_TIMEOUT_MS: &str = "statement_timeout_ms";

fn param(name: &str) -> Option<&'static Param> {
    let name = name.to_ascii_lowercase();
    let name = match name.as_str() {
        "time zone" | "time_zone" => "timezone",
        "transaction isolation level" => "transaction_isolation",
        "session authorization" => "session_authorization",
        other => other,
    };
    PARAMS.iter().find(|p| p.name == name)
}

pub fn error(code: &'static str, message: impl Into<String>) -> QueryError {
    QueryError::new(code, message)
}

mod timezone;

fn unknown(name: &str) -> QueryError {
    error(sqlstate::UNDEFINED_OBJECT, format!("unrecognized configuration parameter \"{name}\""))
}

/// A custom (placeholder) setting such as `myapp.tenant`, which PostgreSQL accepts.
fn is_custom(name: &str) -> bool {
    name.contains('.') && !name.starts_with('.') && !name.ends_with('.')
}

/// The value `name` has for `client`, or None when there is no such setting.
pub fn get(metadata: &HashMap<String, String>, name: &str) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    match param(&lower) {
        Some(p) => Some(metadata.get(p.name).cloned().unwrap_or_else(|| p.default.to_string())),
        None if lower == "session_authorization" || lower == "session authorization" => metadata.get("user").cloned(),
        None if is_custom(&lower) => metadata.get(&lower).cloned(),
        None => None,
    }
}

/// The name a SHOW result column carries.
pub fn shown_name(name: &str) -> String {
    param(name).map_or_else(|| name.to_ascii_lowercase(), |p| p.shown.to_string())
}

/// Parses a PostgreSQL duration setting (`5000`, `5s`, `1min`, `250ms`) to milliseconds.
fn duration_ms(value: &str) -> Option<u64> {
    let v = value.trim();
    let split = v.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let num: f64 = num.parse().ok()?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "ms" => 1.0,
        "us" => 0.001,
        "s" => 1000.0,
        "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => return None,
    };
    Some((num * factor).round() as u64)
}

fn invalid(name: &str, value: &str) -> QueryError {
    error(sqlstate::INVALID_PARAMETER_VALUE, format!("invalid value for parameter \"{name}\": \"{value}\""))
}

fn unsupported(message: impl Into<String>) -> QueryError {
    error(sqlstate::FEATURE_NOT_SUPPORTED, message)
}

/// Checks and normalizes a value for `p`; PostgreSQL's own checks where fedsql can
/// honour the setting, a clear refusal where it cannot.
fn normalize(p: &Param, value: &str) -> Result<String, QueryError> {
    if p.access == Access::ReadOnly {
        return Err(error(sqlstate::CANT_CHANGE_RUNTIME_PARAM, format!("parameter \"{}\" cannot be changed", p.name)));
    }
    let lower = value.trim().to_ascii_lowercase();
    Ok(match p.name {
        "timezone" => timezone::normalize(value)?,
        "client_encoding" => match lower.replace(['-', '_'], "").as_str() {
            "utf8" | "unicode" => "UTF8".into(),
            _ => return Err(unsupported(format!("fedsql only speaks UTF8, not client_encoding \"{value}\""))),
        },
        "datestyle" => {
            // Output is always ISO; the field order only matters for reading input.
            let parts: Vec<&str> = lower.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
            if parts.iter().any(|s| matches!(*s, "sql" | "postgres" | "german")) {
                return Err(unsupported(format!("fedsql writes dates in ISO style only, not DateStyle \"{value}\"")));
            }
            let order = parts.iter().find_map(|s| match *s {
                "mdy" | "us" | "noneuropean" => Some("MDY"),
                "dmy" | "european" => Some("DMY"),
                "ymd" => Some("YMD"),
                _ => None,
            });
            if parts.iter().any(|s| !matches!(*s, "iso" | "mdy" | "us" | "noneuropean" | "dmy" | "european" | "ymd")) {
                return Err(invalid("DateStyle", value));
            }
            format!("ISO, {}", order.unwrap_or("MDY"))
        }
        "intervalstyle" => match lower.as_str() {
            "postgres" | "postgres_verbose" | "sql_standard" | "iso_8601" => lower,
            _ => return Err(invalid("IntervalStyle", value)),
        },
        "bytea_output" => match lower.as_str() {
            "hex" | "escape" => lower,
            _ => return Err(invalid("bytea_output", value)),
        },
        "extra_float_digits" => match lower.parse::<i32>() {
            Ok(n) if (-15..=3).contains(&n) => n.to_string(),
            _ => return Err(invalid("extra_float_digits", value)),
        },
        "standard_conforming_strings" => match lower.as_str() {
            "on" | "true" | "1" | "yes" => "on".into(),
            _ => return Err(unsupported("fedsql requires standard_conforming_strings = on")),
        },
        "statement_timeout" | "lock_timeout" | "idle_in_transaction_session_timeout" | "idle_session_timeout" => {
            duration_ms(value).map(|ms| ms.to_string()).ok_or_else(|| invalid(p.name, value))?
        }
        "plan_cache_mode" => match lower.as_str() {
            "auto" | "force_generic_plan" | "force_custom_plan" => lower,
            _ => return Err(invalid(p.name, value)),
        },
        "fedsql.pushdown" => match lower.as_str() {
            "on" | "true" | "1" | "yes" => "on".into(),
            "off" | "false" | "0" | "no" => "off".into(),
            _ => return Err(invalid(p.name, value)),
        },
        "transaction_read_only" | "default_transaction_read_only" => match lower.as_str() {
            "on" | "true" | "1" | "yes" => "on".into(),
            "off" | "false" | "0" | "no" => "off".into(),
            _ => return Err(invalid(p.name, value)),
        },
        _ => value.to_string(),
    })
}

/// What a SET changed, so the caller can tell the client (ParameterStatus).
pub struct Change {
    pub reported_as: Option<&'static str>,
    pub value: String,
}

fn store(metadata: &mut HashMap<String, String>, p: &Param, value: String) -> Change {
    if p.name == "statement_timeout" {
        metadata.insert(METADATA_STATEMENT_TIMEOUT_MS.into(), value.clone());
    }
    metadata.insert(p.name.to_string(), value.clone());
    Change { reported_as: p.reported.then_some(p.shown), value }
}

/// Sets `name` to `value` (None: its default).
pub fn set(metadata: &mut HashMap<String, String>, name: &str, value: Option<&str>) -> Result<Option<Change>, QueryError> {
    let lower = name.to_ascii_lowercase();
    let Some(p) = param(&lower) else {
        if is_custom(&lower) {
            metadata.insert(lower, value.unwrap_or_default().to_string());
            return Ok(None);
        }
        return Err(unknown(name));
    };
    let value = match value {
        Some(v) => normalize(p, v)?,
        None if p.access == Access::ReadOnly => return Err(normalize(p, "").unwrap_err()),
        None => p.default.to_string(),
    };
    Ok(Some(store(metadata, p, value)))
}

/// RESET ALL / DISCARD ALL: every session setting back to its default.
pub fn reset_all(metadata: &mut HashMap<String, String>) -> Vec<Change> {
    let mut changes = Vec::new();
    for p in PARAMS.iter().filter(|p| p.access == Access::Session) {
        if metadata.contains_key(p.name) {
            changes.push(store(metadata, p, p.default.to_string()));
        }
    }
    metadata.retain(|k, _| !is_custom(k));
    changes
}

/// Settings a client sent in its startup packet (`TimeZone`, `DateStyle`, ...), checked
/// and stored like a SET. Unknown ones are left alone (libpq sends `options`, ...).
pub fn apply_startup(metadata: &mut HashMap<String, String>) -> Result<(), QueryError> {
    let given: Vec<(String, String)> = metadata
        .iter()
        .filter(|(k, _)| param(k).is_some_and(|p| p.access == Access::Session && p.name != k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let options = metadata.get("options").map(|o| startup_options(o)).unwrap_or_default();
    for (k, v) in given.into_iter().chain(options) {
        // A value fedsql cannot honour (a JVM's `GMT+09:00` zone, a LATIN1 encoding)
        // keeps the default rather than refusing the connection.
        if let Err(e) = set(metadata, &k, Some(&v)) {
            tracing::warn!(setting = %k, value = %v, error = %e, "startup setting ignored");
        }
    }
    Ok(())
}

/// The settings of libpq's `options` startup parameter (`-c search_path=crm.public
/// --statement_timeout=5s`), as PostgreSQL reads them: words split on spaces a backslash
/// does not escape; `-c name=value` or `--name=value`.
fn startup_options(options: &str) -> Vec<(String, String)> {
    let mut words = vec![String::new()];
    let mut chars = options.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => words.last_mut().expect("one word").extend(chars.next()),
            c if c.is_whitespace() => words.push(String::new()),
            c => words.last_mut().expect("one word").push(c),
        }
    }
    let mut words = words.into_iter().filter(|w| !w.is_empty());
    let mut out = Vec::new();
    while let Some(word) = words.next() {
        let setting = match word.as_str() {
            "-c" => words.next(),
            w => w.strip_prefix("--").or_else(|| w.strip_prefix("-c")).map(str::to_string),
        };
        if let Some((name, value)) = setting.as_deref().and_then(|s| s.split_once('=')) {
            out.push((name.replace('-', "_").to_lowercase(), value.to_string()));
        }
    }
    out
}

/// Every setting with its value and description, for SHOW ALL.
pub fn all(metadata: &HashMap<String, String>) -> Vec<(String, String, String)> {
    PARAMS
        .iter()
        .map(|p| (p.name.to_string(), get(metadata, p.name).unwrap_or_default(), p.description.to_string()))
        .collect()
}

/// The ParameterStatus messages fedsql sends after startup (name as shown, value).
pub fn reported(metadata: &HashMap<String, String>) -> Vec<(&'static str, String)> {
    PARAMS
        .iter()
        .filter(|p| p.reported)
        .map(|p| (p.shown, get(metadata, p.name).unwrap_or_default()))
        .collect()
}


/// A SET value as PostgreSQL reads it: strings unquoted, identifiers and numbers as
/// written, lists joined with `, `, and DEFAULT as None.
fn value_text(values: &[Expr]) -> Option<String> {
    if let [Expr::Identifier(Ident { value, quote_style: None, .. })] = values {
        if value.eq_ignore_ascii_case("default") {
            return None;
        }
    }
    let parts: Vec<String> = values
        .iter()
        .map(|v| match v {
            Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
                other => other.to_string(),
            },
            Expr::Identifier(id) => id.value.clone(),
            other => other.to_string(),
        })
        .collect();
    Some(parts.join(", "))
}

fn object_name(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|p| p.as_ident().map_or_else(|| p.to_string(), |i| i.value.clone()))
        .collect::<Vec<_>>()
        .join(".")
}

/// A session command fedsql answers itself.
#[derive(Debug, Clone)]
pub enum Command {
    /// SET name = value (None: DEFAULT).
    Set(String, Option<String>),
    /// SET of transaction characteristics: accepted, nothing to change.
    SetIgnored,
    /// SET ROLE / SET SESSION AUTHORIZATION: a session keeps the user it logged in as, so
    /// only that user (or NONE/DEFAULT) is accepted.
    SetIdentity(Option<String>),
    Show(String),
    ShowAll,
    Reset(String),
    ResetAll,
    DiscardAll,
    /// A command that is a no-op for a read-only service, answered with its tag.
    NoOp(&'static str),
}

impl Command {
    pub fn of(stmt: &Statement) -> Option<Command> {
        Some(match stmt {
            Statement::Set(set) => match set {
                Set::SingleAssignment { variable, values, .. } => {
                    Command::Set(object_name(variable), value_text(values))
                }
                Set::SetTimeZone { value, .. } => Command::Set("timezone".into(), value_text(std::slice::from_ref(value))),
                Set::SetNames { charset_name, .. } => Command::Set("client_encoding".into(), Some(charset_name.value.clone())),
                Set::SetNamesDefault {} => Command::Set("client_encoding".into(), None),
                Set::SetRole { role_name, .. } => Command::SetIdentity(role_name.as_ref().map(|r| r.value.clone())),
                Set::SetSessionAuthorization(param) => Command::SetIdentity(match &param.kind {
                    datafusion::sql::sqlparser::ast::SetSessionAuthorizationParamKind::User(u) => Some(u.value.clone()),
                    datafusion::sql::sqlparser::ast::SetSessionAuthorizationParamKind::Default => None,
                }),
                Set::SetTransaction { .. } => Command::SetIgnored,
                _ => return None,
            },
            Statement::ShowVariable { variable } => {
                let name = variable.iter().map(|i| i.value.clone()).collect::<Vec<_>>().join(" ");
                if name.eq_ignore_ascii_case("all") {
                    Command::ShowAll
                } else {
                    Command::Show(name)
                }
            }
            Statement::Reset(r) => match &r.reset {
                Reset::ALL => Command::ResetAll,
                Reset::ConfigurationParameter(name) => Command::Reset(object_name(name)),
            },
            Statement::Discard { .. } => Command::DiscardAll,
            Statement::Savepoint { .. } => Command::NoOp("SAVEPOINT"),
            Statement::ReleaseSavepoint { .. } => Command::NoOp("RELEASE"),
            Statement::Rollback { savepoint: Some(_), .. } => Command::NoOp("ROLLBACK"),
            Statement::UNLISTEN { .. } => Command::NoOp("UNLISTEN"),
            Statement::Deallocate { .. } => Command::NoOp("DEALLOCATE"),
            _ => return None,
        })
    }

    /// The result column of a SHOW, if this command returns rows.
    pub fn show_column(&self) -> Option<Vec<String>> {
        match self {
            Command::Show(name) => Some(vec![shown_name(name)]),
            Command::ShowAll => Some(vec!["name".into(), "setting".into(), "description".into()]),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_show_reset() {
        let mut m = HashMap::new();
        assert_eq!(get(&m, "DateStyle").unwrap(), "ISO, MDY");
        set(&mut m, "DATESTYLE", Some("iso, dmy")).unwrap();
        assert_eq!(get(&m, "datestyle").unwrap(), "ISO, DMY");
        assert!(set(&mut m, "datestyle", Some("German")).is_err());
        set(&mut m, "statement_timeout", Some("2s")).unwrap();
        assert_eq!(m[METADATA_STATEMENT_TIMEOUT_MS], "2000");
        assert!(set(&mut m, "server_version", Some("1")).is_err());
        assert_eq!(
            startup_options("-c search_path=crm.public  --statement-timeout=5s -capplication_name=a\\ b"),
            vec![
                ("search_path".to_string(), "crm.public".to_string()),
                ("statement_timeout".to_string(), "5s".to_string()),
                ("application_name".to_string(), "a b".to_string()),
            ]
        );
        assert!(set(&mut m, "no_such_thing", Some("1")).is_err());
        set(&mut m, "myapp.tenant", Some("7")).unwrap();
        assert_eq!(get(&m, "myapp.tenant").unwrap(), "7");
        reset_all(&mut m);
        assert_eq!(get(&m, "statement_timeout").unwrap(), "0");
        assert_eq!(get(&m, "myapp.tenant"), None);
    }

    #[test]
    fn durations() {
        assert_eq!(duration_ms("5000"), Some(5000));
        assert_eq!(duration_ms("1.5s"), Some(1500));
        assert_eq!(duration_ms("1min"), Some(60000));
        assert_eq!(duration_ms("soon"), None);
    }
}

/// Whether `stmt` calls `current_setting` or `set_config`, which read or change this
/// connection's settings and so are answered per execution.
pub fn calls_session_functions(stmt: &Statement) -> bool {
    let mut found = false;
    let _ = visit_expressions(stmt, |e| {
        if session_function(e).is_some() {
            found = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    found
}

/// One argument of `current_setting`/`set_config`.
enum Arg {
    /// A literal (NULL as None).
    Value(Option<String>),
    /// A statement parameter (`$1`, also as `$1::VARCHAR`), known once bound.
    Parameter(String),
    /// Anything else: fedsql answers these functions before planning, so it cannot.
    Expression,
}

fn session_function(e: &Expr) -> Option<(&'static str, Vec<Arg>)> {
    let Expr::Function(f) = e else { return None };
    let name = f.name.0.last()?.as_ident()?.value.to_ascii_lowercase();
    let name = match name.as_str() {
        "current_setting" => "current_setting",
        "set_config" => "set_config",
        _ => return None,
    };
    let FunctionArguments::List(list) = &f.args else { return None };
    let arg = |e: &Expr| match e {
        // `$1::VARCHAR` (SQLAlchemy over psycopg 3).
        Expr::Cast { expr, .. } => match expr.as_ref() {
            Expr::Value(v) => match &v.value {
                Value::Placeholder(p) => Arg::Parameter(p.clone()),
                _ => Arg::Expression,
            },
            _ => Arg::Expression,
        },
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => Arg::Value(Some(s.clone())),
            Value::Placeholder(p) => Arg::Parameter(p.clone()),
            Value::Boolean(b) => Arg::Value(Some(b.to_string())),
            Value::Null => Arg::Value(None),
            other => Arg::Value(Some(other.to_string())),
        },
        _ => Arg::Expression,
    };
    let args = list
        .args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => arg(e),
            _ => Arg::Expression,
        })
        .collect();
    Some((name, args))
}

/// The arguments' values: Ok(None) while a parameter is not bound yet, Err for an
/// argument that is neither a literal nor a parameter.
fn bind(args: Vec<Arg>, params: Option<&ParamValues>) -> Result<Option<Vec<Option<String>>>, ()> {
    let mut values = Vec::with_capacity(args.len());
    for a in args {
        values.push(match a {
            Arg::Value(v) => v,
            Arg::Expression => return Err(()),
            Arg::Parameter(id) => {
                let Some(value) = params.and_then(|p| p.get_placeholders_with_values(&id).ok()) else {
                    return Ok(None);
                };
                (!value.value.is_null()).then(|| value.value.to_string())
            }
        });
    }
    Ok(Some(values))
}

fn text(value: Value) -> Expr {
    Expr::Cast {
        kind: CastKind::DoubleColon,
        expr: Box::new(Expr::value(value)),
        data_type: SqlDataType::Text,
        array: false,
        format: None,
    }
}

/// Replaces `current_setting('x' [, missing_ok])` and `set_config('x', 'v', is_local)`
/// with their values, applying set_config to `metadata`. Arguments are literals or, once
/// `params` are bound, parameters; before that a call on parameters is planned as text.
pub fn inline_session_functions(
    stmt: &mut Statement,
    metadata: &mut HashMap<String, String>,
    params: Option<&ParamValues>,
) -> Result<Vec<Change>, QueryError> {
    let mut outcome: Result<Vec<Change>, QueryError> = Ok(Vec::new());
    let _ = visit_expressions_mut(stmt, |e| {
        let Some((name, args)) = session_function(e) else { return ControlFlow::Continue(()) };
        let args = match bind(args, params) {
            Ok(Some(args)) => args,
            Ok(None) => {
                *e = text(Value::Null);
                return ControlFlow::Continue(());
            }
            Err(()) => {
                outcome = Err(unsupported(format!("{name}() takes literals or parameters in fedsql")));
                return ControlFlow::Break(());
            }
        };
        let value = match (name, args.as_slice()) {
            ("current_setting", [Some(n)]) => get(metadata, n).ok_or_else(|| unknown(n)).map(Some),
            ("current_setting", [Some(n), missing_ok]) => match get(metadata, n) {
                Some(v) => Ok(Some(v)),
                None if missing_ok.as_deref() == Some("true") => Ok(None),
                None => Err(unknown(n)),
            },
            ("set_config", [Some(n), v, _local]) => set(metadata, n, Some(v.as_deref().unwrap_or(""))).map(|change| {
                if let (Some(c), Ok(list)) = (change, outcome.as_mut()) {
                    list.push(c);
                }
                get(metadata, n)
            }),
            _ => Err(error(sqlstate::UNDEFINED_FUNCTION, format!("function {name} with these arguments does not exist"))),
        };
        match value {
            Ok(v) => {
                *e = text(v.map_or(Value::Null, Value::SingleQuotedString));
                ControlFlow::Continue(())
            }
            Err(err) => {
                outcome = Err(err);
                ControlFlow::Break(())
            }
        }
    });
    outcome
}
