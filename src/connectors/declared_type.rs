//! A source column's own type where the Arrow type loses it: `varchar(40)`, `char(3)`,
//! `json`, `jsonb` and `uuid` all arrive as Utf8. Connectors keep the declared type in
//! the field's metadata; catalogs (pg_attribute, information_schema) and the wire's row
//! descriptions name it, as PostgreSQL would.

use std::collections::HashMap;

use datafusion::arrow::datatypes::Field;

/// The field metadata key.
const KEY: &str = "fedsql.pg_type";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeclaredType {
    /// `character varying`, with its length limit if it has one.
    Varchar(Option<i32>),
    /// `character(n)` (PostgreSQL's bpchar).
    Char(i32),
    Json,
    Jsonb,
    Uuid,
    /// `numeric` without a precision: held as a wide decimal (connectors/postgres.rs),
    /// shown as PostgreSQL shows it, with no precision or scale.
    Numeric,
    /// `int2vector` (pg_index.indkey): an int2 list whose text is `1 2` and whose
    /// subscripts start at 0. Only fedsql's own catalog declares it.
    Int2Vector,
}

impl DeclaredType {
    /// From a source catalog's type name (PostgreSQL's udt_name or MySQL's DATA_TYPE,
    /// lower case) and character length; None for types Arrow keeps.
    pub fn from_source(name: &str, length: Option<i32>) -> Option<Self> {
        Some(match name {
            "varchar" | "character varying" => DeclaredType::Varchar(length),
            "bpchar" | "char" | "character" => DeclaredType::Char(length.unwrap_or(1)),
            "json" => DeclaredType::Json,
            "jsonb" => DeclaredType::Jsonb,
            "uuid" => DeclaredType::Uuid,
            "int2vector" => DeclaredType::Int2Vector,
            _ => return None,
        })
    }

    /// The declared type of a field, if a connector (or fedsql's catalog) recorded one.
    pub fn of(field: &Field) -> Option<Self> {
        let text = field.metadata().get(KEY)?;
        if text == "numeric" {
            return Some(DeclaredType::Numeric);
        }
        let (name, length) = match text.split_once('(') {
            Some((name, rest)) => (name, rest.trim_end_matches(')').parse().ok()),
            None => (text.as_str(), None),
        };
        Self::from_source(name, length)
    }

    /// `field` with this declared type recorded.
    pub fn on(self, field: Field) -> Field {
        let text = match self.length() {
            Some(n) => format!("{}({n})", self.udt_name()),
            None => self.udt_name().to_string(),
        };
        let mut metadata: HashMap<String, String> = field.metadata().clone();
        metadata.insert(KEY.into(), text);
        field.with_metadata(metadata)
    }

    /// `field` without a recorded declared type.
    pub fn erased(field: &Field) -> Field {
        let mut metadata = field.metadata().clone();
        metadata.remove(KEY);
        field.clone().with_metadata(metadata)
    }

    fn length(self) -> Option<i32> {
        match self {
            DeclaredType::Varchar(n) => n,
            DeclaredType::Char(n) => Some(n),
            _ => None,
        }
    }

    /// PostgreSQL's name for the type (`pg_type.typname`, information_schema's udt_name).
    pub fn udt_name(self) -> &'static str {
        match self {
            DeclaredType::Varchar(_) => "varchar",
            DeclaredType::Char(_) => "bpchar",
            DeclaredType::Json => "json",
            DeclaredType::Jsonb => "jsonb",
            DeclaredType::Uuid => "uuid",
            DeclaredType::Numeric => "numeric",
            DeclaredType::Int2Vector => "int2vector",
        }
    }

    /// The SQL-standard name (information_schema's data_type).
    pub fn standard_name(self) -> &'static str {
        match self {
            DeclaredType::Varchar(_) => "character varying",
            DeclaredType::Char(_) => "character",
            other => other.udt_name(),
        }
    }

    pub fn oid(self) -> u32 {
        match self {
            DeclaredType::Varchar(_) => 1043,
            DeclaredType::Char(_) => 1042,
            DeclaredType::Json => 114,
            DeclaredType::Jsonb => 3802,
            DeclaredType::Uuid => 2950,
            DeclaredType::Numeric => 1700,
            DeclaredType::Int2Vector => 22,
        }
    }

    /// `pg_attribute.atttypmod`: the length plus 4 for character types, else -1.
    pub fn typmod(self) -> i32 {
        self.length().map_or(-1, |n| n + 4)
    }

    /// `pg_attribute.attstorage`: uuid is fixed-size (plain), the others extended.
    pub fn storage(self) -> &'static str {
        match self {
            DeclaredType::Uuid | DeclaredType::Int2Vector => "p",
            DeclaredType::Numeric => "m",
            _ => "x",
        }
    }

    /// information_schema's character_maximum_length.
    pub fn max_length(self) -> Option<i32> {
        self.length()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::DataType;

    #[test]
    fn declared_types_survive_the_field() {
        for t in [
            DeclaredType::Varchar(Some(40)),
            DeclaredType::Varchar(None),
            DeclaredType::Char(3),
            DeclaredType::Jsonb,
            DeclaredType::Uuid,
            DeclaredType::Numeric,
            DeclaredType::Int2Vector,
        ] {
            let field = t.on(Field::new("c", DataType::Utf8, true));
            assert_eq!(DeclaredType::of(&field), Some(t));
        }
        assert_eq!(DeclaredType::of(&Field::new("c", DataType::Utf8, true)), None);
        assert_eq!(DeclaredType::Varchar(Some(40)).typmod(), 44);
        assert_eq!(DeclaredType::from_source("text", None), None);
    }
}
