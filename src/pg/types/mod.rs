//! Arrow types as PostgreSQL names them, for catalogs and the wire alike.

use datafusion::arrow::datatypes::{DataType, Field};
use datafusion_postgres::arrow_pg::datatypes::into_pg_type;
use datafusion::sql::sqlparser::ast;
use pgwire::api::Type;

use crate::connectors::DeclaredType;

pub mod bool_literal;
pub mod planner;
pub mod text;
pub mod vector_subscripts;

/// The PostgreSQL type a column of `dt` is sent as. Decimals of every width are
/// `numeric` (sent exactly, see server::encode); dictionaries are their values.
pub fn pg_type(dt: &DataType) -> Type {
    match dt {
        DataType::Decimal32(..) | DataType::Decimal64(..) | DataType::Decimal128(..) | DataType::Decimal256(..) => {
            Type::NUMERIC
        }
        DataType::Dictionary(_, value) => pg_type(value),
        other => into_pg_type(other).unwrap_or(Type::TEXT),
    }
}

/// The SQL and Arrow types of a parameter the client declared as `t` (in its Parse), for the types
/// whose values mean the same in both; None leaves the parameter's type to the statement
/// (a text value for a numeric column, as pgjdbc's setString sends it, is read as a
/// number, not compared as text). A declared type wins over the statement's, as in
/// PostgreSQL: `score * $1` with a numeric `$1` is numeric.
pub fn declared_parameter(t: &Type) -> Option<(ast::DataType, DataType)> {
    use ast::{ExactNumberInfo, TimezoneInfo};
    use datafusion::arrow::datatypes::TimeUnit::Microsecond;
    Some(match *t {
        Type::BOOL => (ast::DataType::Boolean, DataType::Boolean),
        Type::INT2 => (ast::DataType::SmallInt(None), DataType::Int16),
        Type::INT4 => (ast::DataType::Integer(None), DataType::Int32),
        Type::INT8 => (ast::DataType::BigInt(None), DataType::Int64),
        Type::FLOAT4 => (ast::DataType::Real, DataType::Float32),
        Type::FLOAT8 => (ast::DataType::DoublePrecision, DataType::Float64),
        Type::NUMERIC => (ast::DataType::Numeric(ExactNumberInfo::None), DataType::Decimal128(38, 10)),
        Type::DATE => (ast::DataType::Date, DataType::Date32),
        Type::TIMESTAMP => (ast::DataType::Timestamp(None, TimezoneInfo::None), DataType::Timestamp(Microsecond, None)),
        Type::TIMESTAMPTZ => (
            ast::DataType::Timestamp(None, TimezoneInfo::WithTimeZone),
            DataType::Timestamp(Microsecond, Some("+00:00".into())),
        ),
        _ => return None,
    })
}

/// information_schema's character_octet_length of unbounded text.
const UNBOUNDED_OCTETS: i32 = 1_073_741_824;

/// One column as information_schema.columns describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgColumnType {
    /// The SQL-standard name (`data_type`): `bigint`, `timestamp with time zone`, `ARRAY`.
    pub data_type: &'static str,
    /// The type's own name (`udt_name`): `int8`, `timestamptz`, `_text`.
    pub udt_name: String,
    pub numeric_precision: Option<i32>,
    pub numeric_precision_radix: Option<i32>,
    pub numeric_scale: Option<i32>,
    pub datetime_precision: Option<i32>,
    pub character_maximum_length: Option<i32>,
    pub character_octet_length: Option<i32>,
}

impl PgColumnType {
    /// A column's type: the one its source declared, if the connector recorded it.
    pub fn of_field(field: &Field) -> Self {
        let Some(declared) = DeclaredType::of(field) else { return Self::of(field.data_type()) };
        let max = declared.max_length();
        PgColumnType {
            data_type: declared.standard_name(),
            udt_name: declared.udt_name().to_string(),
            numeric_precision: None,
            numeric_precision_radix: (declared == DeclaredType::Numeric).then_some(10),
            numeric_scale: None,
            datetime_precision: None,
            character_maximum_length: max,
            // UTF-8: up to 4 bytes a character; PostgreSQL's 1 GB for unbounded text.
            character_octet_length: match declared {
                DeclaredType::Varchar(_) | DeclaredType::Char(_) => Some(max.map_or(UNBOUNDED_OCTETS, |n| n * 4)),
                _ => None,
            },
        }
    }

    pub fn of(dt: &DataType) -> Self {
        let ty = pg_type(dt);
        let udt_name = ty.name().to_string();
        let data_type = standard_name(&udt_name);
        let (mut precision, mut radix, mut scale, mut datetime) = (None, None, None, None);
        match udt_name.as_str() {
            "int2" => (precision, radix, scale) = (Some(16), Some(2), Some(0)),
            "int4" => (precision, radix, scale) = (Some(32), Some(2), Some(0)),
            "int8" => (precision, radix, scale) = (Some(64), Some(2), Some(0)),
            "float4" => (precision, radix) = (Some(24), Some(2)),
            "float8" => (precision, radix) = (Some(53), Some(2)),
            "numeric" => {
                radix = Some(10);
                (precision, scale) = match dt {
                    DataType::Decimal32(p, s) | DataType::Decimal64(p, s) | DataType::Decimal128(p, s)
                    | DataType::Decimal256(p, s) => (Some(*p as i32), Some(*s as i32)),
                    // UInt64 travels as numeric(20,0).
                    _ => (Some(20), Some(0)),
                };
            }
            "date" => datetime = Some(0),
            "time" | "timestamp" | "timestamptz" | "interval" => datetime = Some(6),
            _ => {}
        }
        PgColumnType {
            data_type,
            character_octet_length: (udt_name == "text").then_some(UNBOUNDED_OCTETS),
            udt_name,
            numeric_precision: precision,
            numeric_precision_radix: radix,
            numeric_scale: scale,
            datetime_precision: datetime,
            character_maximum_length: None,
        }
    }
}

pub(super) fn standard_name(udt: &str) -> &'static str {
    match udt {
        "bool" => "boolean",
        "int2" => "smallint",
        "int4" => "integer",
        "int8" => "bigint",
        "float4" => "real",
        "float8" => "double precision",
        "numeric" => "numeric",
        "text" => "text",
        "varchar" => "character varying",
        "bytea" => "bytea",
        "date" => "date",
        "time" => "time without time zone",
        "timestamp" => "timestamp without time zone",
        "timestamptz" => "timestamp with time zone",
        "interval" => "interval",
        "json" => "json",
        "jsonb" => "jsonb",
        "uuid" => "uuid",
        u if u.starts_with('_') => "ARRAY",
        _ => "USER-DEFINED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::TimeUnit;
    use std::sync::Arc;

    #[test]
    fn names_follow_postgres() {
        let c = PgColumnType::of(&DataType::Decimal256(40, 10));
        assert_eq!((c.data_type, c.udt_name.as_str(), c.numeric_precision, c.numeric_scale), ("numeric", "numeric", Some(40), Some(10)));
        let c = PgColumnType::of(&DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())));
        assert_eq!((c.data_type, c.udt_name.as_str()), ("timestamp with time zone", "timestamptz"));
        let c = PgColumnType::of(&DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))));
        assert_eq!((c.data_type, c.udt_name.as_str()), ("ARRAY", "_text"));
        assert_eq!(PgColumnType::of(&DataType::LargeUtf8).udt_name, "text");
        assert_eq!(PgColumnType::of(&DataType::UInt64).numeric_precision, Some(20));
        let c = PgColumnType::of_field(&DeclaredType::Varchar(Some(40)).on(Field::new("n", DataType::Utf8, true)));
        assert_eq!((c.data_type, c.udt_name.as_str(), c.character_maximum_length), ("character varying", "varchar", Some(40)));
    }
}
