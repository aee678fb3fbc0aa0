//! `igloo keyset …`: credential tools for operators and scripts (JSON on stdout).

use std::io::{BufRead, Write};

#[derive(clap::Subcommand, Debug)]
pub enum KeysetCommand {
    /// Decode a bfgroup1… or bfshare1… credential.
    Decode { credential: String },
}

/// Runs one keyset command; returns the process exit code.
pub fn run(
    cmd: KeysetCommand,
    _stdin: &mut dyn BufRead,
    _stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> i32 {
    match cmd {
        KeysetCommand::Decode { .. } => {
            let _ = writeln!(stderr, "error: keyset commands are being built");
            2
        }
    }
}
