//! `has_table_privilege` and friends, answered for what fedsql lets a client do: read.
//! Sources are read-only, so a tool asking for INSERT, UPDATE or DELETE (Metabase's
//! "table privileges" sync marks tables writable with them) is told no.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, BooleanArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{exec_err, Result as DfResult, ScalarValue};
use crate::engine::Access;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

/// Privileges a read-only service grants on whatever it lists.
const GRANTED: &[&str] = &["SELECT", "USAGE", "CONNECT", "EXECUTE"];
const KNOWN: &[&str] = &[
    "SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER", "MAINTAIN",
    "USAGE", "CREATE", "CONNECT", "TEMPORARY", "TEMP", "EXECUTE", "SET", "ALTER SYSTEM",
];

/// PostgreSQL's rule: a comma-separated list is true when any listed privilege is held.
fn holds(list: &str) -> DfResult<bool> {
    let mut any = false;
    for p in list.split(',') {
        let p = p.trim().to_ascii_uppercase();
        let (p, onward) = match p.strip_suffix(" WITH GRANT OPTION") {
            Some(p) => (p.trim(), true),
            None => (p.as_str(), false),
        };
        if !KNOWN.contains(&p) {
            return exec_err!("unrecognized privilege type: \"{p}\"");
        }
        // Nothing fedsql lists can be granted onward.
        any |= GRANTED.contains(&p) && !onward;
    }
    Ok(any)
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct HasPrivilege {
    name: &'static str,
    signature: Signature,
    /// The session's grants: a source table named by text is held only when granted.
    access: Access,
}

/// `crm.public.orgs`, `"crm.public".orgs` or `"crm.public"."orgs"` as catalog, schema and
/// table; None for anything else (an OID, fedsql's own tables).
fn source_table(name: &str) -> Option<(String, String, String)> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = name.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                current.push('"');
            }
            '"' => quoted = !quoted,
            '.' if !quoted => parts.push(std::mem::take(&mut current)),
            c if quoted => current.push(c),
            c => current.push(c.to_ascii_lowercase()),
        }
    }
    parts.push(current);
    match parts.as_slice() {
        [c, s, t] => Some((c.clone(), s.clone(), t.clone())),
        [cs, t] => cs.split_once('.').map(|(c, s)| (c.to_string(), s.to_string(), t.clone())),
        _ => None,
    }
}

impl ScalarUDFImpl for HasPrivilege {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        // (user, object, privilege) or (object, privilege); columns add one more argument.
        let Some(privilege) = args.args.last() else {
            return exec_err!("{} takes a privilege", self.name);
        };
        // A table named by text that the session may not read: no privilege on it.
        if matches!(self.name, "has_table_privilege" | "has_any_column_privilege" | "has_column_privilege") {
            let object = match args.args.len() {
                2 => args.args.first(),
                n if n >= 3 => args.args.get(n.saturating_sub(if self.name == "has_column_privilege" { 3 } else { 2 })),
                _ => None,
            };
            if let Some(ColumnarValue::Scalar(s)) = object {
                if let Some(Some(text)) = s.try_as_str() {
                    if let Some((c, sc, t)) = source_table(text) {
                        if !self.access.table(&c, &sc, &t) {
                            return Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(false))));
                        }
                    }
                }
            }
        }
        match privilege {
            ColumnarValue::Scalar(s) if s.is_null() => Ok(ColumnarValue::Scalar(ScalarValue::Boolean(None))),
            ColumnarValue::Scalar(s) => {
                let text = match s.try_as_str() {
                    Some(Some(t)) => t.to_string(),
                    _ => s.to_string(),
                };
                let held = holds(&text)?;
                Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(held))))
            }
            ColumnarValue::Array(a) => {
                let texts = cast(a, &DataType::Utf8)?;
                let texts = texts.as_string::<i32>();
                let held = (0..texts.len())
                    .map(|i| if texts.is_null(i) { Ok(None) } else { holds(texts.value(i)).map(Some) })
                    .collect::<DfResult<BooleanArray>>()?;
                Ok(ColumnarValue::Array(Arc::new(held)))
            }
        }
    }
}

pub fn udfs(access: &Access) -> Vec<ScalarUDF> {
    [
        "has_table_privilege",
        "has_any_column_privilege",
        "has_column_privilege",
        "has_schema_privilege",
        "has_database_privilege",
    ]
    .into_iter()
    .map(|name| {
        ScalarUDF::new_from_impl(HasPrivilege { name, signature: Signature::variadic_any(Volatility::Stable), access: access.clone() })
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::{holds, source_table};

    #[test]
    fn table_names_are_read_as_tools_write_them() {
        let want = Some(("crm".to_string(), "public".to_string(), "orgs".to_string()));
        assert_eq!(source_table("crm.public.orgs"), want);
        assert_eq!(source_table("\"crm.public\".orgs"), want);
        assert_eq!(source_table("\"crm.public\".\"orgs\""), want);
        assert_eq!(source_table("orgs"), None);
    }

    #[test]
    fn reads_are_granted_and_writes_are_not() {
        assert!(holds("select").unwrap());
        assert!(holds("USAGE").unwrap());
        assert!(holds("insert, select").unwrap());
        assert!(!holds("update").unwrap());
        assert!(!holds("INSERT,DELETE").unwrap());
        assert!(!holds("SELECT WITH GRANT OPTION").unwrap());
        assert!(holds("bogus").is_err());
    }
}
