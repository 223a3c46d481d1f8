//! Who may read what. A configured user reads what is granted to them or to one of their
//! groups (`[grants]` in the server config); an admin reads everything, and without users
//! (a trusted demo) everyone does. Whatever is not granted is refused (42501) on every
//! path a query can take, and left out of every catalog a tool can browse.

use std::collections::BTreeSet;

use crate::config::ServerConfig;

/// One grant: everything, a catalog, a schema, or a table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Grant {
    All,
    Catalog(String),
    Schema(String, String),
    Table(String, String, String),
}

impl Grant {
    fn parse(text: &str) -> Result<Grant, String> {
        let text = text.trim();
        if text == "*" {
            return Ok(Grant::All);
        }
        let parts: Vec<&str> = text.strip_suffix(".*").unwrap_or(text).split('.').collect();
        if parts.iter().any(|p| p.is_empty() || p.contains('*')) {
            return Err(format!("`{text}`: write `*`, `catalog`, `catalog.schema` or `catalog.schema.table` (optionally ending in `.*`)"));
        }
        Ok(match parts.as_slice() {
            [c] => Grant::Catalog(c.to_string()),
            [c, s] => Grant::Schema(c.to_string(), s.to_string()),
            [c, s, t] if !text.ends_with(".*") => Grant::Table(c.to_string(), s.to_string(), t.to_string()),
            _ => return Err(format!("`{text}`: at most catalog.schema.table")),
        })
    }
}

/// What one session may read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Access {
    All,
    Granted { user: String, grants: BTreeSet<Grant> },
}

impl Access {
    /// The access of `user` under `config`.
    pub fn of(config: &ServerConfig, user: &str) -> Result<Access, String> {
        if config.users.is_empty() {
            return Ok(Access::All);
        }
        let Some(u) = config.users.get(user) else {
            return Ok(Access::nothing(user));
        };
        if u.admin {
            return Ok(Access::All);
        }
        let mut grants = BTreeSet::new();
        for principal in std::iter::once(user).chain(u.groups.iter().map(String::as_str)) {
            for text in config.grants.get(principal).into_iter().flatten() {
                grants.insert(Grant::parse(text).map_err(|e| format!("grants.{principal}: {e}"))?);
            }
        }
        Ok(Access::Granted { user: user.to_string(), grants })
    }

    /// Checks every grant in `config` once, at startup.
    pub fn check_config(config: &ServerConfig) -> Result<(), String> {
        for user in config.users.keys() {
            Access::of(config, user)?;
        }
        Ok(())
    }

    /// Nothing at all, for `user`.
    pub fn nothing(user: &str) -> Access {
        Access::Granted { user: user.to_string(), grants: BTreeSet::new() }
    }

    pub fn user(&self) -> Option<&str> {
        match self {
            Access::All => None,
            Access::Granted { user, .. } => Some(user),
        }
    }

    /// Whether anything in `catalog` may be read.
    pub fn catalog(&self, catalog: &str) -> bool {
        self.any(|g| match g {
            Grant::All => true,
            Grant::Catalog(c) | Grant::Schema(c, _) | Grant::Table(c, _, _) => c == catalog,
        })
    }

    /// Whether anything in `catalog.schema` may be read.
    pub fn schema(&self, catalog: &str, schema: &str) -> bool {
        self.any(|g| match g {
            Grant::All => true,
            Grant::Catalog(c) => c == catalog,
            Grant::Schema(c, s) | Grant::Table(c, s, _) => c == catalog && s == schema,
        })
    }

    pub fn table(&self, catalog: &str, schema: &str, table: &str) -> bool {
        self.any(|g| match g {
            Grant::All => true,
            Grant::Catalog(c) => c == catalog,
            Grant::Schema(c, s) => c == catalog && s == schema,
            Grant::Table(c, s, t) => c == catalog && s == schema && t == table,
        })
    }

    fn any(&self, f: impl Fn(&Grant) -> bool) -> bool {
        match self {
            Access::All => true,
            Access::Granted { grants, .. } => grants.iter().any(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> ServerConfig {
        ServerConfig::parse(text, &|_| None).unwrap()
    }

    const USERS: &str = "[users.ana]\npassword = \"SCRAM-SHA-256$4096:6c88KelM/WxBpi8DRjrWLQ==$t8R1NOFyIRoNn81KtW6TEjA2oZsCk9MSWvKFvTzUAdA=:APr5dTdZyNlRWxL0lZFwffPmbAYPxNsk1ufgZAMC8dA=\"\ngroups = [\"analysts\"]\n\
                         [users.root]\npassword = \"SCRAM-SHA-256$4096:6c88KelM/WxBpi8DRjrWLQ==$t8R1NOFyIRoNn81KtW6TEjA2oZsCk9MSWvKFvTzUAdA=:APr5dTdZyNlRWxL0lZFwffPmbAYPxNsk1ufgZAMC8dA=\"\nadmin = true\n";

    #[test]
    fn grants_reach_down_from_catalogs_to_tables() {
        let c = config(&format!("{USERS}[grants]\nanalysts = [\"history.*\"]\nana = [\"crm.public.orgs\"]\n"));
        let ana = Access::of(&c, "ana").unwrap();
        assert!(ana.table("history", "api", "api_call_log") && ana.schema("history", "api"));
        assert!(ana.table("crm", "public", "orgs") && ana.schema("crm", "public") && ana.catalog("crm"));
        assert!(!ana.table("crm", "public", "members") && !ana.catalog("live"));
        assert_eq!(Access::of(&c, "root").unwrap(), Access::All);
        assert!(!Access::of(&c, "nobody").unwrap().catalog("history"));
        assert_eq!(Access::of(&config(""), "anyone").unwrap(), Access::All);
    }

    #[test]
    fn bad_grants_are_named() {
        let c = config(&format!("{USERS}[grants]\nana = [\"crm.*.orgs\"]\n"));
        assert!(Access::check_config(&c).unwrap_err().contains("grants.ana"));
        assert!(ServerConfig::parse(&format!("{USERS}[grants]\nghost = [\"crm\"]\n"), &|_| None).unwrap_err().contains("grants.ghost"));
    }
}
