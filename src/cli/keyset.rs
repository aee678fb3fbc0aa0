//! `igloo keyset …`: credential tools for operators and scripts.
//!
//! Results are JSON on stdout. Errors are one line on stderr with exit code 2. `verify` prints
//! its answer as JSON and exits 0 when the share belongs to the group, 1 when it does not.

use std::io::{BufRead, Write};

use serde::Serialize;
use zeroize::Zeroizing;

use crate::frostr::credentials::{
    self, CredentialError, CredentialView, GroupView, ShareView, check_share_in_group,
};
use crate::frostr::keyset::{self, KeysetError};
use crate::frostr::nip19;
use crate::frostr::recovery::{self, RecoveryError};
use crate::frostr::types::x_only;

#[derive(clap::Subcommand)]
pub enum KeysetCommand {
    /// Deal a new t-of-n keyset (from a fresh random secret, or by splitting an nsec).
    Generate {
        /// Shares needed to sign (t).
        #[arg(long)]
        threshold: u32,
        /// Shares to create (n).
        #[arg(long)]
        shares: u32,
        /// Existing nsec1… to split; `-` reads it from standard input (keeps it out of the
        /// process list and shell history).
        #[arg(long)]
        nsec: Option<String>,
    },
    /// Decode a bfgroup1… or bfshare1… credential (never prints secrets).
    Decode { credential: String },
    /// Recover the group nsec from a bfgroup and at least t of its bfshares.
    Recover {
        group: String,
        #[arg(required = true)]
        shares: Vec<String>,
    },
    /// Check whether a bfshare belongs to a bfgroup.
    Verify { group: String, share: String },
}

// Hand-written so that a logged command never shows an nsec or a share.
impl std::fmt::Debug for KeysetCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeysetCommand::Generate {
                threshold,
                shares,
                nsec,
            } => f
                .debug_struct("Generate")
                .field("threshold", threshold)
                .field("shares", shares)
                .field("nsec", &nsec.as_ref().map(|_| "<redacted>"))
                .finish(),
            KeysetCommand::Decode { .. } => f.write_str("Decode { .. }"),
            KeysetCommand::Recover { group, shares } => f
                .debug_struct("Recover")
                .field("group", group)
                .field("shares", &format_args!("<{} redacted>", shares.len()))
                .finish(),
            KeysetCommand::Verify { group, .. } => f
                .debug_struct("Verify")
                .field("group", group)
                .field("share", &"<redacted>")
                .finish(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("{0}")]
    Credential(#[from] CredentialError),
    #[error("{0}")]
    Keyset(#[from] KeysetError),
    #[error("{0}")]
    Recovery(#[from] RecoveryError),
    #[error("could not read the nsec from standard input: {0}")]
    Stdin(std::io::Error),
    #[error("no nsec on standard input")]
    EmptyStdin,
    #[error("could not write the output: {0}")]
    Output(String),
}

#[derive(Serialize)]
struct GenerateOut<'a> {
    threshold: u32,
    total_shares: u32,
    group_pubkey: String,
    npub: String,
    group_id: String,
    group: &'a str,
    shares: Vec<&'a str>,
}

#[derive(Serialize)]
struct RecoverOut<'a> {
    nsec: &'a str,
    npub: String,
    group_pubkey: String,
    shares_used: usize,
}

#[derive(Serialize)]
struct VerifyOut {
    belongs: bool,
    idx: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    group: GroupView,
    share: ShareView,
}

fn emit<T: Serialize>(stdout: &mut dyn Write, value: &T) -> Result<(), CliError> {
    serde_json::to_writer_pretty(&mut *stdout, value)
        .map_err(|e| CliError::Output(e.to_string()))?;
    writeln!(stdout).map_err(|e| CliError::Output(e.to_string()))
}

fn read_nsec(arg: &str, stdin: &mut dyn BufRead) -> Result<Zeroizing<String>, CliError> {
    if arg != "-" {
        return Ok(Zeroizing::new(arg.to_owned()));
    }
    let mut line = Zeroizing::new(String::new());
    stdin.read_line(&mut line).map_err(CliError::Stdin)?;
    let trimmed = Zeroizing::new(line.trim().to_owned());
    if trimmed.is_empty() {
        return Err(CliError::EmptyStdin);
    }
    Ok(trimmed)
}

fn generate(
    threshold: u32,
    total: u32,
    nsec: Option<&str>,
    stdin: &mut dyn BufRead,
    stdout: &mut dyn Write,
) -> Result<i32, CliError> {
    let secret = match nsec {
        Some(arg) => Some(nip19::decode_nsec(&read_nsec(arg, stdin)?)?),
        None => None,
    };
    let ks = keyset::generate(&mut rand::rngs::OsRng, threshold, total, secret.as_ref())?;
    let group = credentials::encode_group(&ks.group);
    let shares: Vec<Zeroizing<String>> = ks.shares.iter().map(credentials::encode_share).collect();
    let xo = ks.group.pubkey_x_only();
    emit(
        stdout,
        &GenerateOut {
            threshold,
            total_shares: total,
            group_pubkey: hex::encode(xo),
            npub: nip19::encode_npub(&xo),
            group_id: hex::encode(credentials::group_id(&ks.group)),
            group: &group,
            shares: shares.iter().map(|s| s.as_str()).collect(),
        },
    )?;
    Ok(0)
}

fn decode(credential: &str, stdout: &mut dyn Write) -> Result<i32, CliError> {
    let view: CredentialView = credentials::decode_any(credential)?.view();
    emit(stdout, &view)?;
    Ok(0)
}

fn recover(group: &str, shares: &[String], stdout: &mut dyn Write) -> Result<i32, CliError> {
    let group = credentials::decode_group(group)?;
    let shares = shares
        .iter()
        .map(|s| credentials::decode_share(s))
        .collect::<Result<Vec<_>, _>>()?;
    let secret = recovery::recover_secret(&group, &shares)?;
    let nsec = nip19::encode_nsec(&secret);
    let xo = x_only(&secret.public_key());
    emit(
        stdout,
        &RecoverOut {
            nsec: &nsec,
            npub: nip19::encode_npub(&xo),
            group_pubkey: hex::encode(xo),
            shares_used: shares.len(),
        },
    )?;
    Ok(0)
}

fn verify(group: &str, share: &str, stdout: &mut dyn Write) -> Result<i32, CliError> {
    let group = credentials::decode_group(group)?;
    let share = credentials::decode_share(share)?;
    let check = check_share_in_group(&share, &group);
    let out = VerifyOut {
        belongs: check.is_ok(),
        idx: share.idx,
        reason: check.as_ref().err().map(ToString::to_string),
        group: GroupView::new(&group),
        share: ShareView::new(&share),
    };
    emit(stdout, &out)?;
    Ok(if check.is_ok() { 0 } else { 1 })
}

/// Wipes the secret arguments (an nsec, shares) once they have been used.
fn wipe(cmd: KeysetCommand) {
    use zeroize::Zeroize;
    match cmd {
        KeysetCommand::Generate {
            nsec: Some(mut s), ..
        } => s.zeroize(),
        KeysetCommand::Recover { mut shares, .. } => shares.iter_mut().for_each(Zeroize::zeroize),
        KeysetCommand::Verify { mut share, .. } => share.zeroize(),
        _ => {}
    }
}

/// Runs one keyset command; returns the process exit code (0 ok, 1 `verify` said no, 2 error).
pub fn run(
    cmd: KeysetCommand,
    stdin: &mut dyn BufRead,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> i32 {
    let result = match &cmd {
        KeysetCommand::Generate {
            threshold,
            shares,
            nsec,
        } => generate(*threshold, *shares, nsec.as_deref(), stdin, stdout),
        KeysetCommand::Decode { credential } => decode(credential, stdout),
        KeysetCommand::Recover { group, shares } => recover(group, shares, stdout),
        KeysetCommand::Verify { group, share } => verify(group, share, stdout),
    };
    wipe(cmd);
    match result {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(stderr, "error: {e}");
            2
        }
    }
}
