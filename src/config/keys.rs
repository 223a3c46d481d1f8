//! Typed reading of one TOML table into a `deny_unknown_fields` struct: an unknown key is
//! named with the nearest allowed one, a wrong value with its key's path.

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::Deserialize;

/// Reads `table` as `T`. `at` prefixes key names in errors (`"s3."`).
pub fn typed<T: DeserializeOwned>(table: toml::Table, at: &str) -> Result<T, String> {
    check_keys(&table, field_names::<T>(), at)?;
    serde_path_to_error::deserialize(toml::Value::Table(table))
        .map_err(|e| format!("`{at}{}`: {}", e.path(), e.inner().message()))
}

/// Moves the keys `T` declares out of `table`, leaving the others.
pub fn take<T: DeserializeOwned>(table: &mut toml::Table) -> toml::Table {
    let names = field_names::<T>();
    let taken: Vec<String> = table.keys().filter(|k| names.contains(&k.as_str())).cloned().collect();
    taken.into_iter().filter_map(|k| table.remove(&k).map(|v| (k, v))).collect()
}

fn check_keys(table: &toml::Table, allowed: &[&str], at: &str) -> Result<(), String> {
    for key in table.keys() {
        if !allowed.contains(&key.as_str()) {
            let hint = allowed
                .iter()
                .find(|a| edit_distance(a, key) <= 2)
                .map(|a| format!(" (did you mean `{at}{a}`?)"))
                .unwrap_or_else(|| format!(" (allowed: {})", allowed.join(", ")));
            return Err(format!("unknown key `{at}{key}`{hint}"));
        }
    }
    Ok(())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The field names a derived `Deserialize` struct declares, as serde hands them to a
/// deserializer (the derive keeps them nowhere else).
fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Fields<'a>(&'a mut &'static [&'static str]);
    impl<'de> Deserializer<'de> for Fields<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("names taken"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Fields(&mut fields));
    fields
}

/// A count written as a TOML integer or, after `${VAR}` expansion, as a string of digits.
pub fn count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        Int(i64),
        Text(String),
    }
    match Written::deserialize(d)? {
        Written::Int(i) => u64::try_from(i).map_err(|_| de::Error::custom(format!("must be a non-negative integer, got {i}"))),
        Written::Text(s) => s.parse().map_err(|_| de::Error::custom(format!("must be a non-negative integer, got `{s}`"))),
    }
    .map(Some)
}

/// A switch written as a TOML boolean or, after `${VAR}` expansion, as `"true"`/`"false"`.
pub fn switch<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        Bool(bool),
        Text(String),
    }
    match Written::deserialize(d)? {
        Written::Bool(b) => Ok(b),
        Written::Text(s) => s.parse().map_err(|_| de::Error::custom(format!("must be true or false, got `{s}`"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Example {
        endpoint: Option<String>,
        #[serde(default, deserialize_with = "count")]
        port: Option<u64>,
        #[serde(default, deserialize_with = "switch")]
        allow_http: bool,
    }

    fn table(text: &str) -> toml::Table {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn unknown_keys_are_named_with_a_hint() {
        let e = typed::<Example>(table("endpint = \"x\""), "s3.").unwrap_err();
        assert_eq!(e, "unknown key `s3.endpint` (did you mean `s3.endpoint`?)");
        let e = typed::<Example>(table("colour = 1"), "").unwrap_err();
        assert_eq!(e, "unknown key `colour` (allowed: endpoint, port, allow_http)");
    }

    #[test]
    fn values_are_read_as_written_or_expanded() {
        let e: Example = typed(table("port = \"6000\"\nallow_http = \"true\""), "").unwrap();
        assert_eq!((e.port, e.allow_http, e.endpoint), (Some(6000), true, None));
        let e: Example = typed(table("port = 5432\nallow_http = false"), "").unwrap();
        assert_eq!((e.port, e.allow_http), (Some(5432), false));
        let e = typed::<Example>(table("port = \"soon\""), "").unwrap_err();
        assert_eq!(e, "`port`: must be a non-negative integer, got `soon`");
        let e = typed::<Example>(table("endpoint = 5"), "s3.").unwrap_err();
        assert!(e.starts_with("`s3.endpoint`: invalid type: integer `5`"), "{e}");
    }

    #[test]
    fn take_moves_only_declared_keys() {
        let mut t = table("port = 1\nother = 2");
        let taken = take::<Example>(&mut t);
        assert_eq!((taken.len(), t.len()), (1, 1));
        assert!(taken.contains_key("port") && t.contains_key("other"));
    }
}
