//! `igloo keyset …`: credential tools for operators and scripts (`migrate`: v1 → V2, task V2M).
//!
//! Results are JSON on stdout. Errors are one line on stderr with exit code 2. `verify` prints
//! its answer as JSON and exits 0 when the share belongs to the group, 1 when it does not.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

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
        #[arg(short = 't', long)]
        threshold: u32,
        /// Shares to create (n).
        #[arg(short = 'n', long)]
        shares: u32,
        /// Split an existing key: `--nsec -` reads its nsec1… from standard input (an nsec is
        /// never taken from the command line, where the process list and shell history keep it).
        #[arg(long, value_name = "-", conflicts_with = "nsec_file")]
        nsec: Option<String>,
        /// Split an existing key whose nsec1… is the first line of this file (`-`: stdin).
        #[arg(long, value_name = "PATH")]
        nsec_file: Option<PathBuf>,
    },
    /// Decode a bfgroup1… or bfshare1… credential (never prints secrets). A bfgroup may be
    /// given here; a bfshare only on standard input (`-`, the default) or with --file.
    Decode {
        /// A bfgroup1…, or `-` to read the credential from standard input.
        #[arg(value_name = "BFGROUP|-")]
        credential: Option<String>,
        /// Read the credential from this file instead.
        #[arg(long, value_name = "PATH", conflicts_with = "credential")]
        file: Option<PathBuf>,
    },
    /// Recover the group nsec from a bfgroup and at least t of its bfshares. The shares are
    /// read from standard input (one per line or separated by spaces) or from --share-file.
    Recover {
        /// The group credential (bfgroup1…).
        group: String,
        /// `-`: the shares come from standard input (the default). Shares themselves are
        /// refused here.
        #[arg(value_name = "-")]
        rest: Vec<String>,
        /// A file holding shares (one or more); repeat for more files.
        #[arg(long = "share-file", value_name = "PATH")]
        share_files: Vec<PathBuf>,
    },
    /// Check whether a bfshare belongs to a bfgroup. The share is read from standard input or
    /// from --share-file.
    Verify {
        /// The group credential (bfgroup1…).
        group: String,
        /// `-`: the share comes from standard input (the default).
        #[arg(value_name = "-")]
        rest: Vec<String>,
        /// A file holding the share.
        #[arg(long, value_name = "PATH")]
        share_file: Option<PathBuf>,
    },
    /// Move a v1 keyset to FROSTR V2 with the same npub: from a bfgroup and t of its
    /// bfshares (on standard input, one per line, or --share-file), or from an nsec
    /// (--nsec - / --nsec-file). Without --password-file the password is read from standard
    /// input twice (after the shares or nsec). Prints the npub, this node's V2 profile
    /// (bfprofile, member 1, the provisioning peer), one bfonboard per other member, and a
    /// warning.
    Migrate {
        /// v1 group credential (bfgroup1…); its shares come from standard input.
        group: Option<String>,
        /// `-`: the shares come from standard input (the default).
        #[arg(value_name = "-")]
        rest: Vec<String>,
        /// A file holding v1 shares (bfshare1…); repeat for more files.
        #[arg(long = "share-file", value_name = "PATH")]
        share_files: Vec<PathBuf>,
        /// Or the nsec1… itself: `--nsec -` reads it from standard input.
        #[arg(long, value_name = "-", conflicts_with_all = ["group", "share_files", "nsec_file"])]
        nsec: Option<String>,
        /// Or the nsec1… as the first line of this file.
        #[arg(long, value_name = "PATH", conflicts_with_all = ["group", "share_files"])]
        nsec_file: Option<PathBuf>,
        /// Relay for the V2 devices (ws:// or wss://); repeat for more [default: the
        /// configured RELAYS].
        #[arg(long = "relay")]
        relays: Vec<String>,
        /// File holding the password that protects the new packages (first line). Without
        /// it, the password is read from standard input twice.
        #[arg(long, value_name = "PATH")]
        password_file: Option<PathBuf>,
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

impl KeysetCommand {
    /// `migrate` without `--relay` uses the configured relays (RELAYS); `relays` is asked
    /// only then.
    pub fn with_default_relays(
        mut self,
        relays: impl FnOnce() -> Result<Vec<String>, String>,
    ) -> Result<Self, String> {
        if let KeysetCommand::Migrate { relays: r, .. } = &mut self {
            if r.is_empty() {
                *r = relays()?;
            }
        }
        Ok(self)
    }
}

// Hand-written so that a logged command never shows an nsec or a share (none should be in
// it, but a refused argument is).
impl std::fmt::Debug for KeysetCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeysetCommand::Generate {
                threshold, shares, ..
            } => f
                .debug_struct("Generate")
                .field("threshold", threshold)
                .field("shares", shares)
                .finish_non_exhaustive(),
            KeysetCommand::Decode { .. } => f.write_str("Decode { .. }"),
            KeysetCommand::Recover { .. } => f.write_str("Recover { .. }"),
            KeysetCommand::Verify { .. } => f.write_str("Verify { .. }"),
            KeysetCommand::Migrate { relays, .. } => f
                .debug_struct("Migrate")
                .field("relays", relays)
                .finish_non_exhaustive(),
        }
    }
}

/// Prefixes of credentials that hold a secret.
const SECRET_PREFIXES: [&str; 4] = ["bfshare1", "nsec1", "bfprofile1", "bfonboard1"];

/// True when `s` looks like a secret credential (a bfshare, nsec, bfprofile or bfonboard).
pub fn looks_secret(s: &str) -> bool {
    let t = s.trim().to_ascii_lowercase();
    SECRET_PREFIXES.iter().any(|p| t.starts_with(p))
}

/// `text` with every secret-looking credential in it (`bfshare1…`, `nsec1…`, `bfprofile1…`,
/// `bfonboard1…`, any case) cut to its prefix: for messages that quote the command line,
/// such as clap's errors.
pub fn redact_secrets(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let hit = SECRET_PREFIXES.iter().find(|p| {
            lower[i..].starts_with(**p)
                && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
                && bytes
                    .get(i + p.len())
                    .is_some_and(u8::is_ascii_alphanumeric)
        });
        match hit {
            Some(p) => {
                out.push_str(p);
                out.push_str("…(redacted)");
                i += p.len();
                while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
                    i += 1;
                }
            }
            None => {
                let ch = text[i..].chars().next().unwrap_or(' ');
                out.push(ch);
                i += ch.len_utf8().max(1);
            }
        }
    }
    out
}

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("{0}")]
    Credential(#[from] CredentialError),
    #[error("{0}")]
    Keyset(#[from] KeysetError),
    #[error("{0}")]
    Recovery(#[from] RecoveryError),
    #[error("could not read standard input: {0}")]
    Stdin(std::io::Error),
    #[error("nothing on standard input: expected {0}")]
    EmptyStdin(&'static str),
    #[error("could not read {0}: {1}")]
    File(String, std::io::Error),
    #[error("{0}")]
    Migrate(#[from] crate::keyset::MigrateError),
    #[error(
        "{what} given on the command line was refused (it would stay in the process list and \
         shell history): {how}"
    )]
    SecretOnArgv {
        what: &'static str,
        how: &'static str,
    },
    #[error("unexpected argument (only `-` is accepted here): {how}")]
    Unexpected { how: &'static str },
    #[error("the two passwords differ")]
    PasswordMismatch,
    #[error("no password: give --password-file, or the password twice on standard input")]
    NoPassword,
    #[error(
        "give a bfgroup with its shares on standard input (or --share-file), or --nsec - / --nsec-file"
    )]
    MigrateSource,
    #[error("could not seal this node's profile: {0}")]
    Profile(#[from] crate::frostr_v2::credentials::PackageError),
    #[error("could not write the output: {0}")]
    Output(String),
}

const SHARES_HOW: &str = "give shares on standard input (one per line) or with --share-file PATH";
const NSEC_HOW: &str = "use --nsec - (standard input) or --nsec-file PATH";

/// Refuses a secret (or anything but `-`) in the positional arguments after the group, and
/// a secret given where the group belongs.
fn check_positionals(group: Option<&str>, rest: &[String]) -> Result<(), CliError> {
    for a in group.into_iter().chain(rest.iter().map(String::as_str)) {
        if looks_secret(a) {
            let lower = a.trim().to_ascii_lowercase();
            return Err(if lower.starts_with("nsec1") {
                CliError::SecretOnArgv {
                    what: "an nsec",
                    how: NSEC_HOW,
                }
            } else {
                CliError::SecretOnArgv {
                    what: "a secret credential",
                    how: SHARES_HOW,
                }
            });
        }
    }
    if rest.iter().any(|a| a != "-") {
        return Err(CliError::Unexpected { how: SHARES_HOW });
    }
    Ok(())
}

fn read_file(path: &Path) -> Result<Zeroizing<String>, CliError> {
    if path == Path::new("-") {
        return Err(CliError::File(
            "-".into(),
            std::io::Error::other("use the option without a file to read standard input"),
        ));
    }
    std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|e| CliError::File(path.display().to_string(), e))
}

/// All of standard input.
fn read_all(stdin: &mut dyn BufRead) -> Result<Zeroizing<String>, CliError> {
    let mut buf = Zeroizing::new(String::new());
    stdin.read_to_string(&mut buf).map_err(CliError::Stdin)?;
    Ok(buf)
}

/// One line of standard input, trimmed (`None` at the end of input).
fn read_line(stdin: &mut dyn BufRead) -> Result<Option<Zeroizing<String>>, CliError> {
    let mut line = Zeroizing::new(String::new());
    let n = stdin.read_line(&mut line).map_err(CliError::Stdin)?;
    if n == 0 {
        return Ok(None);
    }
    Ok(Some(Zeroizing::new(
        line.trim_end_matches(['\n', '\r']).to_owned(),
    )))
}

/// The first non-empty line of `text`, trimmed.
fn first_line(text: &str) -> Zeroizing<String> {
    Zeroizing::new(
        text.lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("")
            .to_owned(),
    )
}

/// Whitespace-separated tokens of `text`.
fn tokens(text: &str) -> Vec<Zeroizing<String>> {
    text.split_whitespace()
        .map(|t| Zeroizing::new(t.to_owned()))
        .collect()
}

/// The nsec from `--nsec -` (stdin, first line) or `--nsec-file`.
fn read_nsec(
    nsec: Option<&str>,
    nsec_file: Option<&Path>,
    stdin: &mut dyn BufRead,
) -> Result<Option<Zeroizing<String>>, CliError> {
    let from_stdin = match (nsec, nsec_file) {
        (None, None) => return Ok(None),
        (Some("-"), _) => true,
        (Some(_), _) => {
            return Err(CliError::SecretOnArgv {
                what: "an nsec",
                how: NSEC_HOW,
            });
        }
        (None, Some(p)) => p == Path::new("-"),
    };
    let text = match nsec_file {
        Some(p) if !from_stdin => read_file(p)?,
        _ => match read_line(stdin)? {
            Some(l) => l,
            None => Zeroizing::new(String::new()),
        },
    };
    let nsec = first_line(&text);
    if nsec.is_empty() {
        return Err(CliError::EmptyStdin("an nsec1…"));
    }
    Ok(Some(nsec))
}

/// Shares from files, else every token of standard input.
fn read_shares(
    files: &[PathBuf],
    stdin: &mut dyn BufRead,
) -> Result<Vec<Zeroizing<String>>, CliError> {
    let mut out = Vec::new();
    if files.is_empty() {
        out = tokens(&read_all(stdin)?);
        if out.is_empty() {
            return Err(CliError::EmptyStdin("bfshare1… credentials"));
        }
        return Ok(out);
    }
    for f in files {
        out.extend(tokens(&read_file(f)?));
    }
    Ok(out)
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

fn generate(
    threshold: u32,
    total: u32,
    nsec: Option<&str>,
    nsec_file: Option<&Path>,
    stdin: &mut dyn BufRead,
    stdout: &mut dyn Write,
) -> Result<i32, CliError> {
    let secret = match read_nsec(nsec, nsec_file, stdin)? {
        Some(n) => Some(nip19::decode_nsec(&n)?),
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

fn decode(
    credential: Option<&str>,
    file: Option<&Path>,
    stdin: &mut dyn BufRead,
    stdout: &mut dyn Write,
) -> Result<i32, CliError> {
    let text = match (credential, file) {
        (Some(c), _) if looks_secret(c) => {
            return Err(CliError::SecretOnArgv {
                what: "a secret credential",
                how: "give it on standard input (`igloo keyset decode -`) or with --file PATH",
            });
        }
        (Some(c), _) if c != "-" => Zeroizing::new(c.to_owned()),
        (_, Some(f)) => read_file(f)?,
        _ => read_all(stdin)?,
    };
    let cred = first_line(&text);
    let view: CredentialView = credentials::decode_any(&cred)?.view();
    emit(stdout, &view)?;
    Ok(0)
}

fn recover(
    group: &str,
    rest: &[String],
    files: &[PathBuf],
    stdin: &mut dyn BufRead,
    stdout: &mut dyn Write,
) -> Result<i32, CliError> {
    check_positionals(Some(group), rest)?;
    let group = credentials::decode_group(group)?;
    let shares = read_shares(files, stdin)?
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

fn verify(
    group: &str,
    rest: &[String],
    file: Option<&Path>,
    stdin: &mut dyn BufRead,
    stdout: &mut dyn Write,
) -> Result<i32, CliError> {
    check_positionals(Some(group), rest)?;
    let group = credentials::decode_group(group)?;
    let text = match file {
        Some(f) => read_file(f)?,
        None => read_all(stdin)?,
    };
    let cred = first_line(&text);
    if cred.is_empty() {
        return Err(CliError::EmptyStdin("a bfshare1…"));
    }
    let share = credentials::decode_share(&cred)?;
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
    rest: &'a [String],
    share_files: &'a [PathBuf],
    nsec: Option<&'a str>,
    nsec_file: Option<&'a Path>,
    relays: &'a [String],
    password_file: Option<&'a Path>,
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
fn read_password(path: &Path) -> Result<Zeroizing<String>, CliError> {
    let raw = read_file(path)?;
    Ok(Zeroizing::new(
        raw.lines()
            .next()
            .unwrap_or("")
            .trim_end_matches('\r')
            .to_owned(),
    ))
}

/// The password from the next two lines of standard input, which must match. Prompts go to
/// `stderr` only when standard input is a terminal (the typed text is visible there: prefer
/// --password-file, or pipe it in).
fn ask_password(
    pending: Option<Zeroizing<String>>,
    stdin: &mut dyn BufRead,
    stderr: &mut dyn Write,
) -> Result<Zeroizing<String>, CliError> {
    use std::io::IsTerminal;
    let tty = std::io::stdin().is_terminal();
    let mut next = |prompt: &str, pending: Option<Zeroizing<String>>| {
        if let Some(p) = pending {
            return Ok(Some(p));
        }
        if tty {
            let _ = write!(stderr, "{prompt}");
            let _ = stderr.flush();
        }
        read_line(stdin)
    };
    let first = next("package password: ", pending)?.ok_or(CliError::NoPassword)?;
    let second = next("package password again: ", None)?.ok_or(CliError::NoPassword)?;
    if first.is_empty() {
        return Err(CliError::NoPassword);
    }
    if first.as_bytes() != second.as_bytes() {
        return Err(CliError::PasswordMismatch);
    }
    Ok(first)
}

fn migrate_cmd(
    a: MigrateArgs<'_>,
    stdin: &mut dyn BufRead,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<i32, CliError> {
    use crate::frostr_v2::credentials::{self as v2cred, Profile};
    use crate::keyset::migrate::{MigrateOptions, MigrationInput};
    check_positionals(a.group, a.rest)?;
    let nsec = read_nsec(a.nsec, a.nsec_file, stdin)?;
    // Shares: from files, else the leading `bfshare1…` lines of standard input; the first
    // other line (if any) is the password.
    let mut pending_password = None;
    let mut shares: Vec<Zeroizing<String>> = Vec::new();
    if a.group.is_some() {
        if a.share_files.is_empty() {
            while let Some(line) = read_line(stdin)? {
                let t = line.trim();
                if t.is_empty() {
                    continue;
                }
                if t.to_ascii_lowercase().starts_with("bfshare1") {
                    shares.push(Zeroizing::new(t.to_owned()));
                } else {
                    pending_password = Some(line);
                    break;
                }
            }
        } else {
            shares = read_shares(a.share_files, stdin)?;
        }
    }
    let password = match a.password_file {
        Some(p) => read_password(p)?,
        None => ask_password(pending_password, stdin, stderr)?,
    };
    let share_strings: Vec<String> = shares.iter().map(|s| s.as_str().to_owned()).collect();
    let share_strings = ZeroizeOnDrop(share_strings);
    let input = match (&nsec, a.group) {
        (Some(n), None) => MigrationInput::Nsec(n),
        (None, Some(group)) if !shares.is_empty() => MigrationInput::V1Shares {
            group,
            shares: &share_strings.0,
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

/// A list of secret strings wiped when dropped.
struct ZeroizeOnDrop(Vec<String>);

impl Drop for ZeroizeOnDrop {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.0.iter_mut().for_each(Zeroize::zeroize);
    }
}

/// Runs one keyset command; returns the process exit code (0 ok, 1 `verify` said no, 2 error).
/// Secrets come from `stdin` or files, never from the command itself; no message repeats one.
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
            nsec_file,
        } => generate(
            *threshold,
            *shares,
            nsec.as_deref(),
            nsec_file.as_deref(),
            stdin,
            stdout,
        ),
        KeysetCommand::Decode { credential, file } => {
            decode(credential.as_deref(), file.as_deref(), stdin, stdout)
        }
        KeysetCommand::Recover {
            group,
            rest,
            share_files,
        } => recover(group, rest, share_files, stdin, stdout),
        KeysetCommand::Verify {
            group,
            rest,
            share_file,
        } => verify(group, rest, share_file.as_deref(), stdin, stdout),
        KeysetCommand::Migrate {
            group,
            rest,
            share_files,
            nsec,
            nsec_file,
            relays,
            password_file,
            threshold,
            members,
            name,
        } => migrate_cmd(
            MigrateArgs {
                group: group.as_deref(),
                rest,
                share_files,
                nsec: nsec.as_deref(),
                nsec_file: nsec_file.as_deref(),
                relays,
                password_file: password_file.as_deref(),
                threshold: *threshold,
                members: *members,
                name,
            },
            stdin,
            stdout,
            stderr,
        ),
    };
    wipe(cmd);
    match result {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(stderr, "error: {}", redact_secrets(&e.to_string()));
            2
        }
    }
}

/// Wipes whatever secret-looking text reached the arguments (it was refused, but is wiped).
fn wipe(cmd: KeysetCommand) {
    use zeroize::Zeroize;
    match cmd {
        KeysetCommand::Generate {
            nsec: Some(mut s), ..
        } => s.zeroize(),
        KeysetCommand::Decode {
            credential: Some(mut c),
            ..
        } => c.zeroize(),
        KeysetCommand::Recover {
            mut group,
            mut rest,
            ..
        }
        | KeysetCommand::Verify {
            mut group,
            mut rest,
            ..
        } => {
            group.zeroize();
            rest.iter_mut().for_each(Zeroize::zeroize);
        }
        KeysetCommand::Migrate {
            mut rest,
            mut nsec,
            mut group,
            ..
        } => {
            rest.iter_mut().for_each(Zeroize::zeroize);
            nsec.zeroize();
            group.zeroize();
        }
        _ => {}
    }
}
