//! `igloo keyset …`: credential tools for operators and scripts (`migrate`: v1 → V2, task V2M).
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
    /// Move a v1 keyset to FROSTR V2 with the same npub: from a bfgroup and t of its
    /// bfshares, or from an nsec. Prints the npub, this node's V2 profile (bfprofile, member
    /// 1, the provisioning peer), one bfonboard per other member, and a warning.
    Migrate {
        /// v1 group credential (bfgroup1…), with --share.
        #[arg(long)]
        group: Option<String>,
        /// v1 share credential (bfshare1…); repeat for t shares.
        #[arg(long = "share")]
        shares: Vec<String>,
        /// Or the nsec1… itself; `-` reads it from standard input.
        #[arg(long, conflicts_with_all = ["group", "shares"])]
        nsec: Option<String>,
        /// Relay for the V2 devices (ws:// or wss://); repeat for more.
        #[arg(long = "relay", required = true)]
        relays: Vec<String>,
        /// File holding the password that protects the new packages (first line).
        #[arg(long)]
        password_file: std::path::PathBuf,
        /// New threshold [default: the v1 group's, or 2 for an nsec].
        #[arg(long)]
        threshold: Option<u16>,
        /// New member count [default: the v1 group's, or 3 for an nsec].
        #[arg(long)]
        members: Option<u16>,
        /// Group name in the V2 group package.
        #[arg(long, default_value = "igloo")]
        name: String,
    },
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
            KeysetCommand::Migrate { shares, relays, .. } => f
                .debug_struct("Migrate")
                .field("shares", &format_args!("<{} redacted>", shares.len()))
                .field("relays", relays)
                .finish_non_exhaustive(),
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
    #[error("{0}")]
    Migrate(#[from] crate::keyset::MigrateError),
    #[error("could not read the password file: {0}")]
    PasswordFile(std::io::Error),
    #[error("give --group with at least one --share, or --nsec")]
    MigrateSource,
    #[error("could not seal this node's profile: {0}")]
    Profile(#[from] crate::frostr_v2::credentials::PackageError),
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

struct MigrateArgs<'a> {
    group: Option<&'a str>,
    shares: &'a [String],
    nsec: Option<&'a str>,
    relays: &'a [String],
    password_file: &'a std::path::Path,
    threshold: Option<u16>,
    members: Option<u16>,
    name: &'a str,
}

#[derive(Serialize)]
struct OwnOut<'a> {
    idx: u16,
    /// This node's V2 credentials, sealed with the password: import with
    /// `POST /api/keyset/import` or set as SHARE_CRED with SHARE_PASSWORD.
    bfprofile: &'a str,
}

#[derive(Serialize)]
struct OnboardOut<'a> {
    idx: u16,
    bfonboard: &'a str,
}

#[derive(Serialize)]
struct MigrateOut<'a> {
    npub: &'a str,
    protocol: &'static str,
    threshold: u16,
    members: usize,
    group_package: &'a crate::frostr_v2::GroupPackage,
    own: OwnOut<'a>,
    onboard: Vec<OnboardOut<'a>>,
    warning: &'static str,
}

/// The password is the file's first line (a trailing newline is not part of it).
fn read_password(path: &std::path::Path) -> Result<Zeroizing<String>, CliError> {
    let raw = Zeroizing::new(std::fs::read_to_string(path).map_err(CliError::PasswordFile)?);
    Ok(Zeroizing::new(
        raw.lines()
            .next()
            .unwrap_or("")
            .trim_end_matches('\r')
            .to_owned(),
    ))
}

fn migrate_cmd(
    a: MigrateArgs<'_>,
    stdin: &mut dyn BufRead,
    stdout: &mut dyn Write,
) -> Result<i32, CliError> {
    use crate::frostr_v2::credentials::{self as v2cred, Profile};
    use crate::keyset::migrate::{MigrateOptions, MigrationInput};
    let password = read_password(a.password_file)?;
    let nsec = a.nsec.map(|n| read_nsec(n, stdin)).transpose()?;
    let input = match (&nsec, a.group) {
        (Some(n), None) if a.shares.is_empty() => MigrationInput::Nsec(n),
        (None, Some(group)) if !a.shares.is_empty() => MigrationInput::V1Shares {
            group,
            shares: a.shares,
        },
        _ => return Err(CliError::MigrateSource),
    };
    let opts = MigrateOptions {
        threshold: a.threshold,
        members: a.members,
        name: a.name.to_owned(),
        relays: a.relays.to_vec(),
        kdf: v2cred::KdfParams::DEFAULT,
    };
    let mut rng = rand::rngs::OsRng;
    let m = crate::keyset::migrate(input, &opts, &password, &mut rng)?;
    let profile = Profile {
        name: "igloo".into(),
        share_secret: m.own.secret.clone(),
        relays: m.relays.clone(),
        policy_overrides: Vec::new(),
        group: m.group.clone(),
    };
    let bfprofile = v2cred::encode_profile(&profile, &password, opts.kdf, &mut rng)?;
    emit(
        stdout,
        &MigrateOut {
            npub: &m.npub,
            protocol: "v2",
            threshold: m.group.threshold,
            members: m.group.members.len(),
            group_package: &m.group,
            own: OwnOut {
                idx: m.own.idx,
                bfprofile: &bfprofile,
            },
            onboard: m
                .onboard
                .iter()
                .map(|o| OnboardOut {
                    idx: o.idx,
                    bfonboard: &o.bfonboard,
                })
                .collect(),
            warning: crate::keyset::V1_WARNING,
        },
    )?;
    Ok(0)
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
        KeysetCommand::Migrate {
            mut shares,
            mut nsec,
            ..
        } => {
            shares.iter_mut().for_each(Zeroize::zeroize);
            nsec.zeroize();
        }
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
        KeysetCommand::Migrate {
            group,
            shares,
            nsec,
            relays,
            password_file,
            threshold,
            members,
            name,
        } => migrate_cmd(
            MigrateArgs {
                group: group.as_deref(),
                shares,
                nsec: nsec.as_deref(),
                relays,
                password_file,
                threshold: *threshold,
                members: *members,
                name,
            },
            stdin,
            stdout,
        ),
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
