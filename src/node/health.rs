//! Node health and the watchdog (reference §8.2–8.3, issue 5 item 6).
//!
//! Every received message, sent message and relay connection change is *activity*. A check
//! runs every `check_interval`: when the node has been idle longer than `keepalive_after` it
//! pings one online peer (or, with no peer online, echoes to itself through the relays); it is
//! unhealthy after `unhealthy_after` without activity, and after `restart_after` the watchdog
//! restarts it through the [`Supervisor`], with the health-restart backoff. A node that should
//! run but does not (its start failed) is started again with the node-restart backoff.
//!
//! [`Monitor`] is the pure policy (it takes `now`); [`spawn`] runs it against the real node.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::Supervisor;
use super::v2::AnyNode;
use crate::config::{Backoff, Config};
use crate::events::EventKind;

/// Timers and backoffs of the health model.
#[derive(Clone, Debug, PartialEq)]
pub struct HealthSettings {
    pub check_interval: Duration,
    pub keepalive_after: Duration,
    pub unhealthy_after: Duration,
    pub restart_after: Duration,
    /// How long a keepalive ping or echo may take.
    pub ping_timeout: Duration,
    /// Watchdog restarts of an unhealthy node (NODE_HEALTH_*).
    pub health_restart: Backoff,
    /// Retries of a node start that failed (NODE_RESTART_DELAY, NODE_MAX_RETRIES, …).
    pub restart: Backoff,
}

impl HealthSettings {
    pub fn from_config(config: &Config) -> Self {
        Self {
            check_interval: config.health_timers.check_interval,
            keepalive_after: config.health_timers.keepalive_after,
            unhealthy_after: config.health_timers.unhealthy_after,
            restart_after: config.health_timers.restart_after,
            ping_timeout: config.ping_timeout,
            health_restart: config.health_restart.clone(),
            restart: config.restart.clone(),
        }
    }
}

/// What a check decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Recently active: nothing to do.
    Idle,
    /// Idle: send a keepalive.
    Keepalive,
    /// Idle for too long and the backoff delay has passed: restart the node.
    Restart,
    /// Would restart, but the allowed number of health restarts is used up.
    GaveUp,
}

/// The pure health policy of one supervised node.
#[derive(Clone, Debug)]
pub struct Monitor {
    keepalive_after: Duration,
    unhealthy_after: Duration,
    restart_after: Duration,
    backoff: Backoff,
    last_activity: Instant,
    last_check: Option<Instant>,
    /// Checks in a row whose previous keepalive brought no activity.
    consecutive_failures: u32,
    keepalive_pending: bool,
    /// Watchdog restarts since this monitor began (shown in `/api/status`).
    restart_count: u32,
    /// Restarts since the last activity; bounded by `backoff.max_attempts`.
    attempts: u32,
    /// Start of the current quiet period: the last activity or the last restart.
    quiet_since: Instant,
    restart_due: Option<Instant>,
}

impl Monitor {
    pub fn new(settings: &HealthSettings, now: Instant) -> Self {
        Self {
            keepalive_after: settings.keepalive_after,
            unhealthy_after: settings.unhealthy_after,
            restart_after: settings.restart_after,
            backoff: settings.health_restart.clone(),
            last_activity: now,
            last_check: None,
            consecutive_failures: 0,
            keepalive_pending: false,
            restart_count: 0,
            attempts: 0,
            quiet_since: now,
            restart_due: None,
        }
    }

    /// Something happened on the node (message in or out, relay connection change).
    pub fn activity(&mut self, now: Instant) {
        self.last_activity = now;
        self.quiet_since = now;
        self.consecutive_failures = 0;
        self.keepalive_pending = false;
        self.attempts = 0;
        self.restart_due = None;
    }

    /// A new node replaced the old one for another reason than our restart (new credentials
    /// or relays): its quiet time starts now; the restart count is kept.
    pub fn new_node(&mut self, now: Instant) {
        self.activity(now);
    }

    pub fn is_healthy(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last_activity) < self.unhealthy_after
    }

    pub fn last_activity(&self) -> Instant {
        self.last_activity
    }

    pub fn last_check(&self) -> Option<Instant> {
        self.last_check
    }

    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    pub fn restart_count(&self) -> u32 {
        self.restart_count
    }

    /// One periodic check.
    pub fn check(&mut self, now: Instant) -> Action {
        self.last_check = Some(now);
        let idle = now.saturating_duration_since(self.last_activity);
        if idle < self.keepalive_after {
            return Action::Idle;
        }
        if self.keepalive_pending {
            self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        }
        if now.saturating_duration_since(self.quiet_since) >= self.restart_after
            && idle >= self.unhealthy_after
        {
            if self.attempts >= self.backoff.max_attempts {
                self.keepalive_pending = true;
                return Action::GaveUp;
            }
            let delay = self.backoff.delay(self.attempts);
            let due = *self.restart_due.get_or_insert(now + delay);
            if now >= due {
                self.attempts += 1;
                self.restart_count = self.restart_count.saturating_add(1);
                self.quiet_since = now;
                self.restart_due = None;
                self.keepalive_pending = false;
                return Action::Restart;
            }
        }
        self.keepalive_pending = true;
        Action::Keepalive
    }
}

/// What `/api/status` shows under `health`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HealthReport {
    pub is_healthy: bool,
    pub last_activity: Option<SystemTime>,
    pub last_health_check: Option<SystemTime>,
    pub consecutive_failures: u32,
    pub restart_count: u32,
    /// True when the watchdog stopped restarting (NODE_HEALTH_MAX_RESTARTS reached).
    pub gave_up: bool,
}

/// A tokio instant as wall-clock time, for display.
fn wall(at: Instant, now: Instant) -> SystemTime {
    SystemTime::now()
        .checked_sub(now.saturating_duration_since(at))
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// A peer counts as online when a message from it arrived this recently (and it has not
/// left a request unanswered since).
const ONLINE_WINDOW: Duration = Duration::from_secs(150);

fn online_peers(node: &AnyNode) -> HashSet<[u8; 32]> {
    node.peers()
        .into_iter()
        .filter(|p| p.is_online(std::time::Instant::now(), ONLINE_WINDOW))
        .map(|p| p.xonly)
        .collect()
}

/// Reports relay connects/disconnects and peers going on/offline on the event stream.
#[derive(Default)]
struct Observed {
    relays: Vec<(String, bool)>,
    online: HashSet<[u8; 32]>,
}

impl Observed {
    fn update(&mut self, node: &AnyNode) {
        let relays: Vec<(String, bool)> = node
            .relay_states()
            .into_iter()
            .map(|s| (s.url, s.connected))
            .collect();
        for (url, connected) in &relays {
            let before = self
                .relays
                .iter()
                .find(|(u, _)| u == url)
                .is_some_and(|(_, c)| *c);
            if *connected && !before {
                node.emit(
                    EventKind::Info,
                    format!("Relay connected: {url}"),
                    Some(serde_json::json!({ "relay": url, "connected": true })),
                );
            } else if !*connected && before {
                node.emit(
                    EventKind::Warn,
                    format!("Relay disconnected: {url}"),
                    Some(serde_json::json!({ "relay": url, "connected": false })),
                );
            }
        }
        self.relays = relays;
        let online = online_peers(node);
        for p in online.symmetric_difference(&self.online) {
            let now_online = online.contains(p);
            let pubkey = hex::encode(p);
            node.emit(
                EventKind::PeerStatus,
                format!(
                    "Peer {}… is {}",
                    pubkey.get(..8).unwrap_or(""),
                    if now_online { "online" } else { "offline" }
                ),
                Some(serde_json::json!({ "pubkey": pubkey, "status": if now_online { "online" } else { "offline" } })),
            );
        }
        self.online = online;
    }
}

/// Send one keepalive: ping an online peer (else any peer); with no peer online, a relay
/// round trip (an echo to ourselves). Its answer arrives as activity.
async fn keepalive(node: AnyNode, timeout: Duration) {
    let online = online_peers(&node);
    let peers = node.peers();
    let target = peers
        .iter()
        .find(|p| online.contains(&p.xonly))
        .map(|p| p.xonly);
    let outcome = match (target, &node) {
        (Some(peer), _) => node.ping(&peer, timeout).await.map(|_| ()),
        (None, AnyNode::V1(n)) => n.echo(timeout).await.map(|_| ()),
        // V2 has no echo: any peer's ping (its answer, or the relay's OK, is activity).
        (None, AnyNode::V2(_)) => match peers.first() {
            Some(p) => node.ping(&p.xonly, timeout).await.map(|_| ()),
            None => Ok(()),
        },
    };
    if let Err(e) = outcome {
        tracing::debug!(error = %e, "keepalive failed");
    }
}

/// Runs the health model and the watchdog for whatever node `supervisor` runs, publishing
/// to `health` whether systemd's watchdog should still be fed (false only once our own
/// restarts are exhausted; true with no node configured) and a report to the
/// supervisor. Ends when `shutdown` becomes true.
pub fn spawn(
    supervisor: Supervisor,
    settings: HealthSettings,
    health: watch::Sender<bool>,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut generation = supervisor.generation();
        let mut monitor = Monitor::new(&settings, Instant::now());
        let mut ticker = tokio::time::interval(settings.check_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut node = supervisor.current_any();
        let mut activity = node.as_ref().map(AnyNode::activity);
        let mut observed = Observed::default();
        // Set while our own restart is under way, so it does not reset the quiet period.
        let mut own_restart = false;
        // Failed starts of a node that should run, and when to try again.
        let mut start_failures: u32 = 0;
        let mut retry_at: Option<Instant> = None;
        let mut gave_up_logged = false;
        loop {
            let mut tick = false;
            tokio::select! {
                r = shutdown.wait_for(|s| *s) => { let _ = r; break; }
                _ = generation.changed() => {
                    node = supervisor.current_any();
                    activity = node.as_ref().map(AnyNode::activity);
                    observed = Observed::default();
                    if !own_restart {
                        monitor.new_node(Instant::now());
                        start_failures = 0;
                        retry_at = None;
                    }
                    own_restart = false;
                }
                changed = async {
                    match activity.as_mut() {
                        Some(a) => a.changed().await,
                        None => std::future::pending().await,
                    }
                } => {
                    if changed.is_err() {
                        activity = None;
                    } else {
                        monitor.activity(Instant::now());
                    }
                }
                _ = ticker.tick() => tick = true,
            }
            let now = Instant::now();
            if let Some(n) = &node {
                observed.update(n);
            }
            if tick {
                if !supervisor.wants_any_node() {
                    monitor.new_node(now);
                } else if node.as_ref().is_some_and(AnyNode::is_running) {
                    match monitor.check(now) {
                        Action::Idle => {}
                        Action::Keepalive => {
                            if let Some(n) = node.clone() {
                                tokio::spawn(keepalive(n, settings.ping_timeout));
                            }
                        }
                        Action::Restart => {
                            tracing::warn!(
                                restarts = monitor.restart_count(),
                                "node unhealthy for too long; restarting it"
                            );
                            supervisor.events().emit(
                                EventKind::Warn,
                                "Node unhealthy; the watchdog restarts it",
                                Some(
                                    serde_json::json!({ "restartCount": monitor.restart_count() }),
                                ),
                            );
                            own_restart = true;
                            if let Err(e) = supervisor.restart() {
                                tracing::error!(error = %e, "watchdog restart failed");
                                own_restart = false;
                                retry_at = Some(now + settings.restart.delay(start_failures));
                            }
                        }
                        Action::GaveUp => {
                            if !gave_up_logged {
                                gave_up_logged = true;
                                tracing::error!(
                                    "node still unhealthy after the allowed watchdog restarts; giving up"
                                );
                                supervisor.events().emit(
                                    EventKind::Error,
                                    "Node unhealthy; watchdog restarts exhausted",
                                    None,
                                );
                            }
                        }
                    }
                } else {
                    monitor.check(now);
                    // A node should run but none does: its start failed (or it died).
                    let due = *retry_at.get_or_insert(now + settings.restart.delay(start_failures));
                    if now >= due && start_failures < settings.restart.max_attempts {
                        own_restart = true;
                        match supervisor.restart() {
                            Ok(_) => {
                                start_failures = 0;
                                retry_at = None;
                            }
                            Err(e) => {
                                own_restart = false;
                                start_failures += 1;
                                tracing::error!(error = %e, attempt = start_failures, "node start failed");
                                retry_at = Some(now + settings.restart.delay(start_failures));
                            }
                        }
                    }
                }
            }
            if monitor.is_healthy(now) {
                gave_up_logged = false;
            }
            let healthy = !supervisor.wants_any_node() || monitor.is_healthy(now);
            // systemd restarts the process only once our own recovery is exhausted: during a
            // relay outage a process restart heals nothing, and with a passphrase it would
            // leave the signer locked until someone unlocks it.
            let exhausted = gave_up_logged || start_failures >= settings.restart.max_attempts;
            let feed_systemd = !supervisor.wants_any_node() || healthy || !exhausted;
            health.send_if_modified(|h| {
                let changed = *h != feed_systemd;
                *h = feed_systemd;
                changed
            });
            supervisor.set_health(HealthReport {
                is_healthy: healthy,
                last_activity: Some(wall(monitor.last_activity(), now)),
                last_health_check: monitor.last_check().map(|c| wall(c, now)),
                consecutive_failures: monitor.consecutive_failures(),
                restart_count: monitor.restart_count(),
                gave_up: gave_up_logged,
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(max_restarts: u32) -> HealthSettings {
        HealthSettings {
            check_interval: Duration::from_secs(30),
            keepalive_after: Duration::from_secs(45),
            unhealthy_after: Duration::from_secs(120),
            restart_after: Duration::from_secs(300),
            ping_timeout: Duration::from_secs(10),
            health_restart: Backoff {
                initial: Duration::from_secs(60),
                multiplier: 2.0,
                max_delay: Duration::from_secs(3600),
                max_attempts: max_restarts,
            },
            restart: Backoff {
                initial: Duration::from_secs(30),
                multiplier: 1.5,
                max_delay: Duration::from_secs(300),
                max_attempts: 5,
            },
        }
    }

    /// Run checks every 30 s from `from` for `span`, returning (seconds, action) of each.
    fn run(m: &mut Monitor, t0: Instant, from: u64, to: u64) -> Vec<(u64, Action)> {
        (from..=to)
            .step_by(30)
            .map(|s| (s, m.check(t0 + Duration::from_secs(s))))
            .collect()
    }

    #[test]
    fn active_node_stays_healthy_and_idle() {
        let t0 = Instant::now();
        let mut m = Monitor::new(&settings(3), t0);
        for s in (10..3600).step_by(10) {
            let now = t0 + Duration::from_secs(s);
            m.activity(now);
            if s % 30 == 0 {
                assert_eq!(m.check(now), Action::Idle);
            }
            assert!(m.is_healthy(now));
        }
        assert_eq!(m.restart_count(), 0);
        assert_eq!(m.consecutive_failures(), 0);
    }

    #[test]
    fn idle_node_gets_keepalives_then_turns_unhealthy_at_two_minutes() {
        let t0 = Instant::now();
        let mut m = Monitor::new(&settings(3), t0);
        assert_eq!(m.check(t0 + Duration::from_secs(30)), Action::Idle);
        assert_eq!(m.check(t0 + Duration::from_secs(60)), Action::Keepalive);
        assert_eq!(m.consecutive_failures(), 0);
        assert_eq!(m.check(t0 + Duration::from_secs(90)), Action::Keepalive);
        assert_eq!(
            m.consecutive_failures(),
            1,
            "the first keepalive brought nothing"
        );
        assert!(m.is_healthy(t0 + Duration::from_secs(119)));
        assert!(!m.is_healthy(t0 + Duration::from_secs(120)));
        // The keepalive's answer is activity: healthy again, failures cleared.
        m.activity(t0 + Duration::from_secs(125));
        assert!(m.is_healthy(t0 + Duration::from_secs(130)));
        assert_eq!(m.consecutive_failures(), 0);
        assert_eq!(m.last_check(), Some(t0 + Duration::from_secs(90)));
    }

    #[test]
    fn watchdog_restarts_after_five_minutes_plus_backoff_and_gives_up() {
        let t0 = Instant::now();
        let mut m = Monitor::new(&settings(2), t0);
        let acts = run(&mut m, t0, 30, 3000);
        let restarts: Vec<u64> = acts
            .iter()
            .filter(|(_, a)| *a == Action::Restart)
            .map(|(s, _)| *s)
            .collect();
        // First: quiet 300 s, then the 60 s delay → 360 s. Second: 300 s quiet after it,
        // then 120 s (doubled) → 780 s. Then no more: the limit is 2.
        assert_eq!(restarts, vec![360, 780]);
        assert_eq!(m.restart_count(), 2);
        let first_gave_up = acts.iter().find(|(_, a)| *a == Action::GaveUp).map(|x| x.0);
        assert_eq!(first_gave_up, Some(1080));
        assert!(!m.is_healthy(t0 + Duration::from_secs(3000)));
    }

    #[test]
    fn activity_resets_the_restart_budget() {
        let t0 = Instant::now();
        let mut m = Monitor::new(&settings(1), t0);
        assert!(
            run(&mut m, t0, 30, 360)
                .iter()
                .any(|(_, a)| *a == Action::Restart)
        );
        m.activity(t0 + Duration::from_secs(400));
        let later = run(&mut m, t0, 420, 1200);
        assert_eq!(
            later.iter().filter(|(_, a)| *a == Action::Restart).count(),
            1,
            "a node that recovered gets its restarts back"
        );
        assert_eq!(m.restart_count(), 2);
    }

    /// The runner against a real supervised node whose only relay can never connect: it
    /// turns unhealthy at two minutes, the watchdog restarts it (same credentials), gives up
    /// after the allowed restarts, and a server without a node is healthy again.
    #[tokio::test(start_paused = true)]
    async fn runner_feeds_the_watchdog_and_restarts_a_dead_node() {
        let (stop_tx, stop_rx) = watch::channel(false);
        let bus = crate::events::EventBus::new();
        let mut events = bus.subscribe();
        let sup = Supervisor::new(stop_rx.clone(), bus);
        let ks =
            crate::frostr::keyset::generate(&mut rand::thread_rng(), 2, 3, None).expect("keyset");
        // An empty host: the pool fails at once, without any I/O, and never connects.
        let first = sup
            .start(
                ks.group.clone(),
                ks.shares[0].clone(),
                vec!["ws://".into()],
                Duration::from_secs(5),
            )
            .expect("start");
        let (health_tx, health_rx) = watch::channel(true);
        let task = spawn(sup.clone(), settings(2), health_tx, stop_rx);
        tokio::time::sleep(Duration::from_secs(100)).await;
        assert!(*health_rx.borrow(), "healthy before two idle minutes");
        assert!(sup.health().last_health_check.is_some());
        tokio::time::sleep(Duration::from_secs(40)).await;
        assert!(
            *health_rx.borrow(),
            "systemd is still fed while the runner heals the node itself"
        );
        assert!(!sup.health().is_healthy, "unhealthy after two idle minutes");
        assert!(sup.health().consecutive_failures >= 1);
        tokio::time::sleep(Duration::from_secs(260)).await; // t = 400 s
        assert_eq!(sup.health().restart_count, 1);
        let second = sup.current().expect("restarted node runs");
        assert!(!first.is_running(), "the old node was stopped");
        assert_eq!(second.self_xonly(), first.self_xonly(), "same credentials");
        tokio::time::sleep(Duration::from_secs(900)).await; // t = 1300 s
        let report = sup.health();
        assert_eq!(report.restart_count, 2);
        assert!(report.gave_up);
        assert!(
            !*health_rx.borrow(),
            "recovery exhausted: systemd may restart us"
        );
        // Credentials removed: no node configured counts as a healthy server.
        sup.apply(None, vec![], Duration::from_secs(5))
            .expect("stop");
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(*health_rx.borrow());
        let mut kinds = Vec::new();
        while let Ok(ev) = events.try_recv() {
            kinds.push(ev.kind);
        }
        assert!(kinds.contains(&EventKind::Ready));
        assert!(kinds.contains(&EventKind::Info), "node stopped is reported");
        assert!(
            kinds.contains(&EventKind::Warn),
            "watchdog restart is reported"
        );
        let _ = stop_tx.send(true);
        task.await.expect("runner ends on shutdown");
    }
}
