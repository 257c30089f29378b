//! One module per group of subcommands.

pub(crate) mod models;
pub(crate) mod runs;
