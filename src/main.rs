//! The `igloo` binary: parse the configuration, build the runtime, run, map errors to exit codes.

use std::io::Write;
use std::process::ExitCode;

use igloo::cli::{self, Command};
use igloo::config;

fn main() -> ExitCode {
    // `.env` in the working directory fills in variables the environment does not set.
    if let Err(e) = dotenvy::dotenv() {
        let missing =
            matches!(&e, dotenvy::Error::Io(io) if io.kind() == std::io::ErrorKind::NotFound);
        if !missing {
            eprintln!("error: .env: {e}");
            return ExitCode::from(2);
        }
    }
    let (cli, config) = match cli::parse_cli(std::env::args_os()) {
        Ok(x) => x,
        Err((0, msg)) => {
            print!("{msg}");
            return ExitCode::SUCCESS;
        }
        Err((code, msg)) => {
            eprintln!("{}", msg.trim_end());
            return ExitCode::from(code as u8);
        }
    };
    match (cli.command, config) {
        (Some(Command::Keyset { cmd }), _) => {
            // `migrate` without --relay uses the configured RELAYS.
            let settings = &cli.settings;
            let cmd = match cmd.with_default_relays(|| {
                config::parse_relays(&settings.relays).map_err(|e| format!("RELAYS: {e}"))
            }) {
                Ok(c) => c,
                Err(msg) => {
                    eprintln!("error: {msg}");
                    return ExitCode::from(2);
                }
            };
            let stdin = std::io::stdin();
            let code = igloo::cli::keyset::run(
                cmd,
                &mut stdin.lock(),
                &mut std::io::stdout().lock(),
                &mut std::io::stderr().lock(),
            );
            let _ = std::io::stdout().flush();
            ExitCode::from(code as u8)
        }
        (Some(Command::SetupCode), Some(config)) => {
            let code = igloo::cli::setup_code::run(
                &config,
                &mut std::io::stdout().lock(),
                &mut std::io::stderr().lock(),
            );
            let _ = std::io::stdout().flush();
            ExitCode::from(code as u8)
        }
        (Some(Command::Healthcheck), Some(config)) => {
            ExitCode::from(igloo::cli::healthcheck::run(&config) as u8)
        }
        (_, Some(config)) => serve(config),
        (_, None) => ExitCode::from(2),
    }
}

fn serve(config: config::Config) -> ExitCode {
    igloo::logging::init(config.log_level.as_deref());
    let runtime = if config.worker_threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.worker_threads)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.bind))?;
        igloo::daemon::run(config, listener, igloo::daemon::shutdown_signal())
            .await
            .map_err(|e| e.to_string())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
