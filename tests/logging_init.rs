//! Logging set-up, each case in a fresh copy of this test binary: the global subscriber can be
//! installed once per process, and the cases need different environments.

use std::path::Path;
use std::process::{Command, Stdio};

use igloo::logging::{LogTarget, init};

const CHILD_ENV: &str = "IGLOO_LOG_TEST_CHILD";
const MARK: &str = "TARGETS:";

/// When this process is a child started by `run_child`: initialise twice, log one line per
/// level, and return true so the test function ends there.
fn acted_as_child() -> bool {
    let Ok(level) = std::env::var(CHILD_ENV) else {
        return false;
    };
    let level = (!level.is_empty()).then_some(level);
    let first = init(level.as_deref());
    let second = init(Some("trace"));
    assert_ne!(first, LogTarget::AlreadyInitialized);
    println!("{MARK}{first:?},{second:?}");
    tracing::error!("line-error");
    tracing::info!("line-info");
    tracing::debug!("line-debug");
    true
}

struct Run {
    targets: String,
    stderr: String,
}

/// Re-runs test `name` in a child process with `env`, where it takes the `acted_as_child` path.
fn run_child(name: &str, level: &str, env: &[(&str, &str)], stderr_file: Option<&Path>) -> Run {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, level)
        .env_remove("RUST_LOG")
        .env_remove("LOG_LEVEL")
        .env_remove("JOURNAL_STREAM")
        .envs(env.iter().copied())
        .stdout(Stdio::piped());
    if let Some(f) = stderr_file {
        cmd.stderr(std::fs::File::create(f).unwrap());
    } else {
        cmd.stderr(Stdio::piped());
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "child failed: {out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let targets = stdout
        .lines()
        .find_map(|l| l.split(MARK).nth(1))
        .unwrap_or_else(|| panic!("no targets line in {stdout:?}"))
        .to_owned();
    let stderr = match stderr_file {
        Some(f) => std::fs::read_to_string(f).unwrap(),
        None => String::from_utf8(out.stderr).unwrap(),
    };
    Run { targets, stderr }
}

#[test]
fn second_init_is_harmless_and_default_level_is_info() {
    if acted_as_child() {
        return;
    }
    let run = run_child(
        "second_init_is_harmless_and_default_level_is_info",
        "",
        &[],
        None,
    );
    assert_eq!(run.targets, "Stderr,AlreadyInitialized");
    assert!(run.stderr.contains("line-error"), "{}", run.stderr);
    assert!(run.stderr.contains("line-info"), "{}", run.stderr);
    assert!(!run.stderr.contains("line-debug"), "{}", run.stderr);
}

#[test]
fn log_level_env_and_argument() {
    if acted_as_child() {
        return;
    }
    let run = run_child(
        "log_level_env_and_argument",
        "",
        &[("LOG_LEVEL", "debug")],
        None,
    );
    assert!(run.stderr.contains("line-debug"), "{}", run.stderr);

    // The configured level beats the LOG_LEVEL variable.
    let run = run_child(
        "log_level_env_and_argument",
        "error",
        &[("LOG_LEVEL", "debug")],
        None,
    );
    assert!(run.stderr.contains("line-error"), "{}", run.stderr);
    assert!(!run.stderr.contains("line-info"), "{}", run.stderr);
}

#[test]
fn rust_log_wins() {
    if acted_as_child() {
        return;
    }
    let run = run_child(
        "rust_log_wins",
        "debug",
        &[("RUST_LOG", "error"), ("LOG_LEVEL", "debug")],
        None,
    );
    assert!(run.stderr.contains("line-error"), "{}", run.stderr);
    assert!(!run.stderr.contains("line-info"), "{}", run.stderr);
}

#[test]
fn journal_stream_pointing_at_stderr_selects_journald_or_falls_back() {
    if acted_as_child() {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("stderr.log");
    std::fs::write(&file, b"").unwrap();
    let meta = std::fs::metadata(&file).unwrap();
    let stream = format!("{}:{}", meta.dev(), meta.ino());
    let run = run_child(
        "journal_stream_pointing_at_stderr_selects_journald_or_falls_back",
        "",
        &[("JOURNAL_STREAM", &stream)],
        Some(&file),
    );
    if Path::new("/run/systemd/journal/socket").exists() {
        assert_eq!(run.targets, "Journald,AlreadyInitialized");
    } else {
        assert_eq!(run.targets, "Stderr,AlreadyInitialized");
        assert!(
            run.stderr.contains("journald is unreachable"),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("line-info"), "{}", run.stderr);
    }
}

#[test]
fn journal_stream_for_another_stream_is_ignored() {
    if acted_as_child() {
        return;
    }
    let run = run_child(
        "journal_stream_for_another_stream_is_ignored",
        "",
        &[("JOURNAL_STREAM", "1:1")],
        None,
    );
    assert_eq!(run.targets, "Stderr,AlreadyInitialized");
    assert!(!run.stderr.contains("journald"), "{}", run.stderr);
}
