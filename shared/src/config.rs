//! Configuration from environment variables.
//!
//! Each function reads its configuration once, at cold start, into a typed
//! struct. A missing or malformed variable fails the init with a message that
//! names the variable, so a bad deployment is caught at its first invocation
//! rather than half-way through a run.

use std::collections::HashMap;
use std::fmt::Display;
use std::str::FromStr;

/// Why the configuration could not be read. The message always names the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: environment variable {name} is not set (or is empty)")]
    Missing { name: String },
    #[error("configuration: environment variable {name}={value:?} is invalid: {reason}")]
    Invalid {
        name: String,
        value: String,
        reason: String,
    },
}

/// Where variables come from: the process environment, or a fixed map in tests
/// (edition 2024 makes `set_var` unsafe, and tests run in parallel).
#[derive(Debug, Clone)]
pub enum Env {
    Process,
    Fixed(HashMap<String, String>),
}

impl Env {
    /// The process environment.
    pub fn process() -> Self {
        Env::Process
    }

    /// A fixed set of variables, for tests.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Env::Fixed(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }

    fn lookup(&self, name: &str) -> Option<String> {
        let value = match self {
            Env::Process => std::env::var(name).ok(),
            Env::Fixed(map) => map.get(name).cloned(),
        };
        value.filter(|v| !v.trim().is_empty())
    }

    /// A variable that must be set and non-empty.
    pub fn required(&self, name: &str) -> Result<String, ConfigError> {
        self.lookup(name).ok_or_else(|| ConfigError::Missing {
            name: name.to_owned(),
        })
    }

    /// A variable that may be absent.
    pub fn optional(&self, name: &str) -> Option<String> {
        self.lookup(name)
    }

    /// A variable that must be set and parse as `T`.
    pub fn required_parsed<T>(&self, name: &str) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        let raw = self.required(name)?;
        parse(name, raw)
    }

    /// A variable that, when set, must parse as `T`; `default` when absent.
    pub fn parsed_or<T>(&self, name: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.lookup(name) {
            Some(raw) => parse(name, raw),
            None => Ok(default),
        }
    }

    /// A variable naming an AWS resource: set, and free of white space.
    pub fn resource_name(&self, name: &str) -> Result<String, ConfigError> {
        let value = self.required(name)?;
        if value.chars().any(char::is_whitespace) {
            return Err(ConfigError::Invalid {
                name: name.to_owned(),
                value,
                reason: "a resource name cannot contain white space".into(),
            });
        }
        Ok(value)
    }
}

fn parse<T>(name: &str, raw: String) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    raw.trim()
        .parse()
        .map_err(|e: T::Err| ConfigError::Invalid {
            name: name.to_owned(),
            reason: e.to_string(),
            value: raw,
        })
}

/// Reads a function's configuration from the process environment at init,
/// logging a bad variable by name before the init fails with it.
pub fn load<T>(from_env: impl FnOnce(&Env) -> Result<T, ConfigError>) -> Result<T, ConfigError> {
    from_env(&Env::process()).inspect_err(|e| tracing::error!(error = %e, "init failed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_variable_is_named() {
        let err = Env::from_pairs([]).required("TABLE_NAME").unwrap_err();
        assert_eq!(
            err,
            ConfigError::Missing {
                name: "TABLE_NAME".into()
            }
        );
        assert!(err.to_string().contains("TABLE_NAME"));
    }

    #[test]
    fn an_empty_variable_counts_as_missing() {
        let env = Env::from_pairs([("TABLE_NAME", "  ")]);
        assert!(matches!(
            env.required("TABLE_NAME"),
            Err(ConfigError::Missing { .. })
        ));
    }

    #[test]
    fn a_malformed_number_is_named_with_its_value() {
        let env = Env::from_pairs([("MAX_ROWS", "ten")]);
        let err = env.parsed_or::<u32>("MAX_ROWS", 5).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("MAX_ROWS") && text.contains("\"ten\""),
            "{text}"
        );
    }

    #[test]
    fn defaults_apply_only_when_absent() {
        let env = Env::from_pairs([("MAX_ROWS", "7")]);
        assert_eq!(env.parsed_or("MAX_ROWS", 5u32), Ok(7));
        assert_eq!(env.parsed_or("OTHER", 5u32), Ok(5));
    }

    #[test]
    fn resource_names_reject_white_space() {
        let env = Env::from_pairs([("ENDPOINT_NAME", "my endpoint")]);
        assert!(matches!(
            env.resource_name("ENDPOINT_NAME"),
            Err(ConfigError::Invalid { .. })
        ));
    }
}
