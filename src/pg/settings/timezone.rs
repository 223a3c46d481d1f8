//! Time zone names as `SET TIME ZONE`, `SET timezone TO` and the startup packet give
//! them, checked against the IANA database.

use datafusion::arrow::array::timezone::Tz;

use super::error;
use crate::engine::error::{sqlstate, QueryError};

/// The zone fedsql keeps for `zone`, or PostgreSQL's 22023 for an unknown one.
pub fn normalize(zone: &str) -> Result<String, QueryError> {
    let z = match zone.to_ascii_uppercase().as_str() {
        "LOCAL" | "DEFAULT" | "UTC" | "GMT" | "Z" | "ETC/UTC" | "UCT" => "UTC".to_string(),
        _ => zone.to_string(),
    };
    z.parse::<Tz>().map(|_| z.clone()).map_err(|_| {
        error(sqlstate::INVALID_PARAMETER_VALUE, format!("invalid value for parameter \"TimeZone\": \"{zone}\""))
    })
}
