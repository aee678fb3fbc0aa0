//! The systemd notify protocol (`sd_notify(3)`), implemented directly: one datagram per message
//! to the unix socket named by `NOTIFY_SOCKET` (a path, or an abstract name starting with `@`).
//!
//! Outside systemd (no `NOTIFY_SOCKET`, e.g. in Docker) every call is a no-op that returns `Ok`.
//! Sends never block: a full socket queue is reported as an error instead.

use std::ffi::OsStr;
use std::future::Future;
use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Failure to reach the service manager.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("NOTIFY_SOCKET {0:?} is not a unix socket path or @abstract name")]
    BadAddress(String),
    #[error("abstract NOTIFY_SOCKET names are only supported on Linux")]
    AbstractUnsupported,
    #[error("sending {state} to the service manager failed: {source}")]
    Send {
        state: String,
        #[source]
        source: io::Error,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Path(PathBuf),
    Abstract(Vec<u8>),
}

/// A handle for notifying the service manager. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    target: Option<Target>,
}

impl Notifier {
    /// A notifier for the socket `addr`: an absolute path, or `@name` for an abstract socket.
    pub fn new(addr: impl AsRef<OsStr>) -> Result<Notifier, NotifyError> {
        let addr = addr.as_ref();
        let bytes = addr.as_encoded_bytes();
        let target = match bytes.first() {
            Some(b'@') => {
                if !cfg!(any(target_os = "linux", target_os = "android")) {
                    return Err(NotifyError::AbstractUnsupported);
                }
                Target::Abstract(bytes[1..].to_vec())
            }
            Some(b'/') => Target::Path(PathBuf::from(addr)),
            _ => return Err(NotifyError::BadAddress(addr.to_string_lossy().into_owned())),
        };
        Ok(Notifier {
            target: Some(target),
        })
    }

    /// A notifier that does nothing.
    pub fn disabled() -> Notifier {
        Notifier { target: None }
    }

    /// From `NOTIFY_SOCKET`; disabled when unset. An unusable value is logged and disables it,
    /// because a notification problem must not stop the signer.
    pub fn from_env() -> Notifier {
        Self::from_socket_var(std::env::var_os("NOTIFY_SOCKET").as_deref())
    }

    /// [`Notifier::from_env`] with the variable's value passed in.
    pub fn from_socket_var(value: Option<&OsStr>) -> Notifier {
        match value {
            None => Notifier::disabled(),
            Some(v) if v.is_empty() => Notifier::disabled(),
            Some(v) => Notifier::new(v).unwrap_or_else(|e| {
                tracing::warn!("systemd notifications disabled: {e}");
                Notifier::disabled()
            }),
        }
    }

    /// Whether messages go anywhere.
    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    /// Sends raw newline-separated `KEY=VALUE` assignments as one datagram.
    pub fn notify(&self, state: &str) -> Result<(), NotifyError> {
        let Some(target) = &self.target else {
            return Ok(());
        };
        let err = |source| NotifyError::Send {
            state: state.lines().next().unwrap_or_default().to_owned(),
            source,
        };
        let sock = UnixDatagram::unbound().map_err(err)?;
        sock.set_nonblocking(true).map_err(err)?;
        let sent = match target {
            Target::Path(p) => sock.send_to(state.as_bytes(), p),
            Target::Abstract(name) => send_abstract(&sock, name, state.as_bytes()),
        };
        sent.map_err(err)?;
        Ok(())
    }

    /// `READY=1`: start-up finished (listener bound, store open).
    pub fn ready(&self) -> Result<(), NotifyError> {
        self.notify("READY=1")
    }

    /// `STATUS=…`: a one-line state shown by `systemctl status`. Newlines become spaces, since a
    /// newline would start a new assignment.
    pub fn status(&self, status: &str) -> Result<(), NotifyError> {
        let line: String = status
            .chars()
            .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
            .collect();
        self.notify(&format!("STATUS={line}"))
    }

    /// `STOPPING=1`: shutdown has begun.
    pub fn stopping(&self) -> Result<(), NotifyError> {
        self.notify("STOPPING=1")
    }

    /// `WATCHDOG=1`: one keep-alive ping.
    pub fn watchdog(&self) -> Result<(), NotifyError> {
        self.notify("WATCHDOG=1")
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn send_abstract(sock: &UnixDatagram, name: &[u8], msg: &[u8]) -> io::Result<usize> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    sock.send_to_addr(msg, &addr)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn send_abstract(_: &UnixDatagram, _: &[u8], _: &[u8]) -> io::Result<usize> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract sockets need Linux",
    ))
}

/// The ping interval systemd asks for: half of `WATCHDOG_USEC`, if the watchdog is on and meant
/// for this process (`WATCHDOG_PID` unset or equal to our pid).
pub fn watchdog_interval() -> Option<Duration> {
    watchdog_interval_from(
        std::env::var("WATCHDOG_USEC").ok().as_deref(),
        std::env::var("WATCHDOG_PID").ok().as_deref(),
        std::process::id(),
    )
}

/// [`watchdog_interval`] with the environment passed in.
pub fn watchdog_interval_from(
    usec: Option<&str>,
    pid: Option<&str>,
    my_pid: u32,
) -> Option<Duration> {
    if let Some(pid) = pid {
        if pid.trim().parse::<u32>().ok()? != my_pid {
            return None;
        }
    }
    let usec: u64 = usec?.trim().parse().ok()?;
    if usec == 0 {
        return None;
    }
    Some(Duration::from_micros(usec / 2).max(Duration::from_millis(1)))
}

/// Pings the watchdog every `interval` while `health` is `true`, and at once when it turns
/// `true`; stays silent while it is `false`, so systemd restarts a node that stays unhealthy.
/// Ends when `shutdown` completes.
pub fn spawn_watchdog<S>(
    notifier: Notifier,
    interval: Duration,
    mut health: watch::Receiver<bool>,
    shutdown: S,
) -> JoinHandle<()>
where
    S: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        // Once the health sender is gone the last value stands; stop waiting for changes.
        let mut health_open = true;
        loop {
            let ping = tokio::select! {
                _ = &mut shutdown => break,
                _ = ticker.tick() => *health.borrow(),
                changed = health.changed(), if health_open => match changed {
                    Ok(()) => *health.borrow_and_update(),
                    Err(_) => {
                        health_open = false;
                        false
                    }
                },
            };
            if ping {
                if let Err(e) = notifier.watchdog() {
                    tracing::warn!("watchdog ping failed: {e}");
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert!(Notifier::new("/run/systemd/notify").unwrap().is_enabled());
        assert!(Notifier::new("@abstract").unwrap().is_enabled());
        assert!(matches!(
            Notifier::new("relative/sock"),
            Err(NotifyError::BadAddress(_))
        ));
        assert!(Notifier::new("").is_err());
        assert!(!Notifier::from_socket_var(None).is_enabled());
        assert!(!Notifier::from_socket_var(Some(OsStr::new(""))).is_enabled());
        assert!(!Notifier::from_socket_var(Some(OsStr::new("vsock:2:1"))).is_enabled());
    }

    #[test]
    fn disabled_is_a_silent_no_op() {
        let n = Notifier::disabled();
        assert!(n.ready().is_ok());
        assert!(n.status("x").is_ok());
        assert!(n.watchdog().is_ok());
    }

    #[test]
    fn missing_socket_is_an_error_not_a_panic() {
        let tmp = tempfile::tempdir().unwrap();
        let n = Notifier::new(tmp.path().join("nobody-listens")).unwrap();
        let err = n.ready().unwrap_err();
        assert!(err.to_string().contains("READY=1"), "{err}");
    }

    #[test]
    fn watchdog_interval_is_half_of_usec_for_this_pid() {
        let half = Some(Duration::from_secs(15));
        assert_eq!(watchdog_interval_from(Some("30000000"), None, 7), half);
        assert_eq!(watchdog_interval_from(Some("30000000"), Some("7"), 7), half);
        assert_eq!(watchdog_interval_from(Some("30000000"), Some("8"), 7), None);
        assert_eq!(watchdog_interval_from(Some("30000000"), Some("x"), 7), None);
        assert_eq!(watchdog_interval_from(None, None, 7), None);
        assert_eq!(watchdog_interval_from(Some("0"), None, 7), None);
        assert_eq!(watchdog_interval_from(Some("soon"), None, 7), None);
    }
}
