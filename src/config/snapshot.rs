//! `[[snapshot]]` in a catalog file: tables kept as a local copy, refreshed on a schedule,
//! so queries on them never reach the source.

use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RefreshMode {
    /// Read the whole table again, in key-ordered chunks.
    #[default]
    Full,
    /// Read rows whose cursor is at least the last maximum minus `overlap`; replace by key.
    Append,
}

/// What a query on a snapshot that has never been loaded gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BeforeFirstLoad {
    /// 55000 naming the table and the load's progress: the source is never asked.
    #[default]
    Fail,
    /// Read the source until the snapshot exists.
    Source,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    table: String,
    #[serde(default)]
    refresh: RefreshMode,
    cursor: Option<String>,
    overlap: Option<toml::Value>,
    key: Option<Vec<String>>,
    #[serde(default, with = "humantime_serde")]
    every: Option<Duration>,
    cron: Option<String>,
    time_zone: Option<String>,
    #[serde(default, with = "humantime_serde")]
    full_every: Option<Duration>,
    chunk_rows: Option<usize>,
    #[serde(default)]
    before_first_load: BeforeFirstLoad,
}

/// When refreshes run.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    Every(Duration),
    /// A cron expression read in a real time zone (daylight saving included).
    Cron { expression: String, time_zone: chrono_tz::Tz },
}

/// How far back an append refresh reads again, in the cursor's own terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    Time(Duration),
    Count(i64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotConfig {
    /// The schema, and the table or None for every table of the schema (`schema.*`).
    pub schema: String,
    pub table: Option<String>,
    pub refresh: RefreshMode,
    pub cursor: Option<String>,
    pub overlap: Overlap,
    /// None: the source's primary key.
    pub key: Option<Vec<String>>,
    pub schedule: Schedule,
    pub full_every: Option<Duration>,
    /// Rows per source statement.
    pub chunk_rows: usize,
    pub before_first_load: BeforeFirstLoad,
}

pub const DEFAULT_EVERY: Duration = Duration::from_secs(600);
pub const DEFAULT_OVERLAP: Duration = Duration::from_secs(600);
pub const DEFAULT_CHUNK_ROWS: usize = 50_000;

impl SnapshotConfig {
    /// Whether this entry covers `schema.table`.
    pub fn covers(&self, schema: &str, table: &str) -> bool {
        self.schema == schema && self.table.as_deref().is_none_or(|t| t == table)
    }
}

/// Parses the `snapshot` array of a catalog file.
pub fn parse(value: &toml::Value) -> Result<Vec<SnapshotConfig>, String> {
    let raws: Vec<Raw> = value
        .clone()
        .try_into()
        .map_err(|e: toml::de::Error| format!("[[snapshot]]: {}", e.message()))?;
    raws.into_iter().map(check).collect()
}

fn check(raw: Raw) -> Result<SnapshotConfig, String> {
    let at = format!("[[snapshot]] table = \"{}\"", raw.table);
    let (schema, table) = match raw.table.split_once('.') {
        Some((s, "*")) if !s.is_empty() => (s.to_string(), None),
        Some((s, t)) if !s.is_empty() && !t.is_empty() && !t.contains('.') => (s.to_string(), Some(t.to_string())),
        _ => return Err(format!("{at}: expected `schema.table` or `schema.*`")),
    };
    let schedule = match (raw.every, raw.cron, raw.time_zone) {
        (Some(_), Some(_), _) => return Err(format!("{at}: give `every` or `cron`, not both")),
        (_, None, Some(_)) => return Err(format!("{at}: `time_zone` goes with `cron`")),
        (Some(d), None, None) if d.is_zero() => return Err(format!("{at}: `every` must be more than 0")),
        (Some(d), None, None) => Schedule::Every(d),
        (None, None, None) => Schedule::Every(DEFAULT_EVERY),
        (None, Some(expression), tz) => {
            let time_zone: chrono_tz::Tz = match tz {
                Some(name) => name
                    .parse()
                    .map_err(|_| format!("{at}: unknown time_zone `{name}` (an IANA name such as Asia/Seoul)"))?,
                None => chrono_tz::UTC,
            };
            croner::parser::CronParser::new()
                .parse(&expression)
                .map_err(|e| format!("{at}: cron `{expression}`: {e}"))?;
            Schedule::Cron { expression, time_zone }
        }
    };
    if raw.refresh == RefreshMode::Append && raw.cursor.is_none() {
        return Err(format!("{at}: refresh = \"append\" needs `cursor`, a column that only grows"));
    }
    if raw.refresh == RefreshMode::Full {
        for (key, set) in [("cursor", raw.cursor.is_some()), ("overlap", raw.overlap.is_some()), ("full_every", raw.full_every.is_some())] {
            if set {
                return Err(format!("{at}: `{key}` is for refresh = \"append\""));
            }
        }
    }
    let overlap = match raw.overlap {
        None => Overlap::Time(DEFAULT_OVERLAP),
        Some(toml::Value::Integer(n)) if n >= 0 => Overlap::Count(n),
        Some(toml::Value::String(s)) => Overlap::Time(
            humantime::parse_duration(&s).map_err(|e| format!("{at}: overlap `{s}`: {e}"))?,
        ),
        Some(other) => return Err(format!("{at}: overlap `{other}`: a duration (\"10m\") or, for an integer cursor, a count")),
    };
    if raw.key.as_ref().is_some_and(|k| k.is_empty()) {
        return Err(format!("{at}: `key` names at least one column"));
    }
    let chunk_rows = raw.chunk_rows.unwrap_or(DEFAULT_CHUNK_ROWS);
    if chunk_rows == 0 {
        return Err(format!("{at}: `chunk_rows` must be more than 0"));
    }
    Ok(SnapshotConfig {
        schema,
        table,
        refresh: raw.refresh,
        cursor: raw.cursor,
        overlap,
        key: raw.key,
        schedule,
        full_every: raw.full_every,
        chunk_rows,
        before_first_load: raw.before_first_load,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Result<SnapshotConfig, String> {
        let t: toml::Table = toml::from_str(text).unwrap();
        parse(&t["snapshot"]).map(|mut v| v.remove(0))
    }

    #[test]
    fn append_with_cron_in_seoul() {
        let c = one(
            "[[snapshot]]\ntable = \"d.log\"\nrefresh = \"append\"\ncursor = \"at\"\noverlap = \"10m\"\n\
             key = [\"id\"]\ncron = \"0 9 * * *\"\ntime_zone = \"Asia/Seoul\"\nfull_every = \"1d\"",
        )
        .unwrap();
        assert_eq!(c.table.as_deref(), Some("log"));
        assert_eq!(c.overlap, Overlap::Time(Duration::from_secs(600)));
        assert_eq!(c.schedule, Schedule::Cron { expression: "0 9 * * *".into(), time_zone: chrono_tz::Asia::Seoul });
        assert!(c.covers("d", "log") && !c.covers("d", "other"));
    }

    #[test]
    fn mistakes_are_named() {
        assert!(one("[[snapshot]]\ntable = \"d.log\"\nrefresh = \"append\"").unwrap_err().contains("needs `cursor`"));
        assert!(one("[[snapshot]]\ntable = \"log\"").unwrap_err().contains("schema.table"));
        assert!(one("[[snapshot]]\ntable = \"d.*\"\ncron = \"0 9 * * *\"\ntime_zone = \"KST\"").unwrap_err().contains("time_zone"));
        assert!(one("[[snapshot]]\ntable = \"d.t\"\nevry = \"1m\"").unwrap_err().contains("unknown field `evry`"));
        assert!(one("[[snapshot]]\ntable = \"d.t\"\ncron = \"not cron\"").unwrap_err().contains("cron"));
    }
}
