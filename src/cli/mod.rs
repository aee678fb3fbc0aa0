//! The `igloo` binary's command line: the settings ([`crate::config::Settings`]) and the
//! subcommands other than running the daemon.

pub mod healthcheck;
pub mod keyset;
pub mod setup_code;

use clap::{Parser, Subcommand};

use crate::config::{self, Config, Settings};

#[derive(Parser, Debug)]
#[command(name = "igloo", version, about = config::ABOUT, long_about = config::LONG_ABOUT)]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the daemon (the default when no command is given).
    Serve,
    /// Exit 0 when the local server answers GET /api/status with 200, 1 otherwise.
    Healthcheck,
    /// Print a fresh one-time setup code for creating the first admin (the daemon may run;
    /// the earlier code stops working). Reads DB_PATH like the daemon.
    SetupCode,
    /// Credential tools: generate, decode, recover and verify FROSTR keysets.
    Keyset {
        #[command(subcommand)]
        cmd: keyset::KeysetCommand,
    },
}

/// Parses the whole command line (after `.env` has been loaded into the environment).
/// On error returns the process exit code and the message to print.
pub fn parse_cli<I, T>(args: I) -> Result<(Cli, Option<Config>), (i32, String)>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    // clap quotes offending arguments: never let it repeat a share or an nsec.
    let cli = Cli::try_parse_from(args).map_err(|e| {
        let (code, msg) = config::cli_error(&e);
        (code, keyset::redact_secrets(&msg))
    })?;
    let config = match cli.command {
        None | Some(Command::Serve) | Some(Command::Healthcheck) | Some(Command::SetupCode) => {
            Some(
                Config::from_settings(cli.settings.clone())
                    .map_err(|e| (2, format!("error: {e}")))?,
            )
        }
        Some(Command::Keyset { .. }) => None,
    };
    Ok((cli, config))
}
