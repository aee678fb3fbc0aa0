//! Subcommands of the `igloo` binary other than running the daemon.

pub mod healthcheck;
pub mod keyset;
pub mod setup_code;
