//! `has_table_privilege` and friends, answered for what fedsql lets a client do: read.
//! Sources are read-only, so a tool asking for INSERT, UPDATE or DELETE (Metabase's
//! "table privileges" sync marks tables writable with them) is told no.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, BooleanArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{exec_err, Result as DfResult, ScalarValue};
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

pub fn udfs() -> Vec<ScalarUDF> {
    [
        "has_table_privilege",
        "has_any_column_privilege",
        "has_column_privilege",
        "has_schema_privilege",
        "has_database_privilege",
    ]
    .into_iter()
    .map(|name| ScalarUDF::new_from_impl(HasPrivilege { name, signature: Signature::variadic_any(Volatility::Stable) }))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::holds;

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
