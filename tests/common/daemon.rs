//! The real `igloo` binary as a child process on 127.0.0.1 port 0, for tests that need a
//! separate process: its own memory, file-size limits (disk full) and SIGKILL (power loss).

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_igloo");

/// The igloo binary on 127.0.0.1 port 0 with its data in `dir/data`; killed on drop.
pub struct Daemon {
    pub child: Child,
    pub port: u16,
    pub log: Arc<Mutex<String>>,
    /// Reads stderr into `log`; ends when the process closes it (on exit).
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Daemon {
    /// Starts it with a clean environment plus `env`. SIGXFSZ is ignored in the child, so
    /// a write past RLIMIT_FSIZE fails with EFBIG (as a full disk fails with ENOSPC)
    /// instead of killing the process.
    pub fn spawn(dir: &Path, env: &[(&str, &str)]) -> Daemon {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOST_NAME", "127.0.0.1")
            .env("HOST_PORT", "0")
            .env("DB_PATH", dir.join("data"))
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .stdout(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        // SAFETY: signal() is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                Ok(())
            });
        }
        let mut child = cmd.spawn().expect("spawn igloo");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        let log = Arc::new(Mutex::new(String::new()));
        let log2 = log.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(i) = line.find("://127.0.0.1:") {
                    let digits: String = line[i + 13..]
                        .chars()
                        .take_while(|c| c.is_ascii_digit())
                        .collect();
                    let _ = tx.send(digits.parse::<u16>().unwrap_or(0));
                }
                let mut l = log2.lock().unwrap_or_else(|p| p.into_inner());
                l.push_str(&line);
                l.push('\n');
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("daemon logs its address");
        Daemon {
            child,
            port,
            log,
            reader: Some(reader),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid")
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Sets the soft file-size limit of the running daemon (the hard limit is kept, so it
    /// can be raised again without privileges).
    pub fn set_file_size_limit(&self, bytes: Option<u64>) {
        let mut cur = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: plain syscalls on valid pointers.
        let rc =
            unsafe { libc::prlimit(self.pid(), libc::RLIMIT_FSIZE, std::ptr::null(), &mut cur) };
        assert_eq!(rc, 0, "prlimit get: {}", std::io::Error::last_os_error());
        let new = libc::rlimit {
            rlim_cur: bytes.map_or(cur.rlim_max, |b| b.min(cur.rlim_max)),
            rlim_max: cur.rlim_max,
        };
        let rc =
            unsafe { libc::prlimit(self.pid(), libc::RLIMIT_FSIZE, &new, std::ptr::null_mut()) };
        assert_eq!(rc, 0, "prlimit set: {}", std::io::Error::last_os_error());
    }

    /// SIGTERM, then the exit code (within 20 s) and the whole log, its last lines included.
    pub fn stop(mut self) -> (Option<i32>, String) {
        // SAFETY: kill on our own child's pid.
        unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        let start = Instant::now();
        let code = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s.code();
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "no exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        (code, self.log())
    }

    /// SIGTERM, then the exit code (within 20 s).
    pub fn terminate(self) -> Option<i32> {
        self.stop().0
    }

    /// SIGKILL (power loss) and reap.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
