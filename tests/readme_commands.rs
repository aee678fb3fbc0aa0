//! Every command in the README's ```sh blocks runs as written. Blocks that need another
//! machine (docker, Buildroot, a clone) are tagged ```console and are not run; this test
//! fails if such a command appears in a ```sh block.
//!
//! How each line is run: all ```sh lines in README order, one `bash -euo pipefail -c LINE`
//! each, in one temporary working directory (so later lines see the files earlier ones
//! wrote), with a clean environment whose PATH starts with a directory where `igloo` is the
//! binary under test (CARGO_BIN_EXE_igloo). Two lines are mapped instead of run:
//! * `cargo run --release …`: never a release build in tests. The built binary is started
//!   as that line would start it (embedded defaults, data in ./data) except on port 0
//!   (HOST_PORT=0: tests bind 127.0.0.1:0 only), `/api/status` must answer 200, then
//!   SIGTERM must stop it with exit 0.
//! * `scripts/test …`: that is the suite running this test; it is checked to exist, be
//!   executable and parse (`bash -n`).
//!
//! Any other `cargo` line fails the test, so a new README command gets a mapping here.
//! Needs `jq` (scripts/test installs it).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_igloo");

/// (info string, line number, line) of every line inside a fenced block.
fn fenced_lines(readme: &str) -> Vec<(String, usize, String)> {
    let mut out = Vec::new();
    let mut lang: Option<String> = None;
    for (n, line) in readme.lines().enumerate() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("```") {
            lang = match lang {
                None => Some(rest.trim().to_string()),
                Some(_) => None,
            };
            continue;
        }
        if let Some(l) = &lang {
            out.push((l.clone(), n + 1, line.to_string()));
        }
    }
    assert!(lang.is_none(), "README has an unclosed code block");
    out
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn shell(dir: &Path, bin_dir: &Path, line: &str) -> std::process::Output {
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("bash")
        .args(["-euo", "pipefail", "-c", line])
        .current_dir(dir)
        .env_clear()
        .env("PATH", path)
        .env("HOME", dir)
        .stdin(Stdio::null())
        .output()
        .expect("bash runs")
}

/// `cargo run --release`: the built binary with its embedded defaults, on port 0.
async fn run_the_daemon(dir: &Path) {
    let mut child = Command::new(BIN)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOST_PORT", "0")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("igloo runs");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(i) = line.find("listening url=http://127.0.0.1:") {
                let port: String = line[i + 31..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                let _ = tx.send(port.parse::<u16>().unwrap_or(0));
            }
        }
    });
    let port = match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(p) => p,
        Err(_) => {
            let _ = child.kill();
            panic!("the daemon never logged its address");
        }
    };
    let r = reqwest::get(format!("http://127.0.0.1:{port}/api/status")).await;
    let code = r.as_ref().map(|r| r.status().as_u16()).unwrap_or(0);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("no exit after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(code, 200, "/api/status of `cargo run --release`");
    assert_eq!(status.code(), Some(0));
    assert!(
        dir.join("data").join("igloo.redb").is_file(),
        "data in ./data"
    );
}

#[tokio::test]
async fn readme_sh_blocks_run_as_written() {
    assert!(
        Command::new("jq").arg("--version").output().is_ok(),
        "jq is needed by the README's keyset examples: install it (scripts/test does)"
    );
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README");
    let lines = fenced_lines(&readme);
    let sh: Vec<&(String, usize, String)> = lines.iter().filter(|(l, _, _)| l == "sh").collect();
    assert!(sh.len() >= 5, "the README's sh blocks were not found");
    // Commands that need another machine must not be in sh blocks.
    for (_, n, line) in &sh {
        for other in ["docker ", "git clone", "make ", "buildroot"] {
            assert!(
                !line.contains(other),
                "README line {n} needs another machine; tag its block ```console: {line}"
            );
        }
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let bin_dir = tmp.path().join("bin");
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&bin_dir).expect("bin dir");
    std::fs::create_dir_all(&work).expect("work dir");
    std::os::unix::fs::symlink(BIN, bin_dir.join("igloo")).expect("symlink");
    let mut ran = 0;
    for (_, n, line) in sh {
        let cmd = line.trim();
        if cmd.is_empty() || cmd.starts_with('#') {
            continue;
        }
        if cmd.starts_with("cargo run --release") {
            run_the_daemon(&work).await;
        } else if cmd.starts_with("scripts/test") {
            let script = repo().join("scripts/test");
            let mode = std::os::unix::fs::PermissionsExt::mode(
                &std::fs::metadata(&script)
                    .expect("scripts/test")
                    .permissions(),
            );
            assert!(mode & 0o111 != 0, "scripts/test is not executable");
            let ok = Command::new("bash")
                .arg("-n")
                .arg(&script)
                .status()
                .expect("bash");
            assert!(ok.success(), "scripts/test does not parse");
        } else if cmd.starts_with("cargo") {
            panic!("README line {n}: no mapping for `{cmd}` in tests/readme_commands.rs");
        } else {
            let out = shell(&work, &bin_dir, cmd);
            assert!(
                out.status.success(),
                "README line {n} failed ({:?}): {cmd}\nstdout: {}\nstderr: {}",
                out.status.code(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        ran += 1;
    }
    assert!(ran >= 5, "only {ran} README commands ran");
}
