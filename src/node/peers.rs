//! The group's other members as this node sees them: index, policy, liveness.

use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use crate::frostr::GroupPackage;
use crate::frostr::transport::payload::PingResponse;
use crate::frostr::types::x_only;

/// Our policy towards one peer (spec §3): `send` = we may include it in our requests,
/// `recv` = we answer its requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    pub send: bool,
    pub recv: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            send: true,
            recv: true,
        }
    }
}

/// One peer's state.
#[derive(Clone, Debug)]
pub struct Peer {
    pub idx: u32,
    /// x-only share key (its Nostr identity).
    pub xonly: [u8; 32],
    /// 33-byte compressed share key, as igloo-server shows it.
    pub compressed: [u8; 33],
    pub policy: Policy,
    /// Last time any valid message from it arrived.
    pub last_seen: Option<(Instant, SystemTime)>,
    /// Round-trip of the last successful ping, in milliseconds.
    pub latency_ms: Option<u64>,
    /// The peer's policy towards us, from its last `/ping/res`.
    pub remote_policy: Option<PingResponse>,
}

/// Every peer of the group except ourselves.
#[derive(Debug)]
pub struct Peers(Mutex<Vec<Peer>>);

impl Peers {
    pub fn from_group(group: &GroupPackage, self_idx: u32) -> Self {
        let peers = group
            .commits
            .iter()
            .filter(|c| c.idx != self_idx)
            .map(|c| Peer {
                idx: c.idx,
                xonly: x_only(&c.pubkey),
                compressed: crate::frostr::types::compressed(&c.pubkey),
                policy: Policy::default(),
                last_seen: None,
                latency_ms: None,
                remote_policy: None,
            })
            .collect();
        Self(Mutex::new(peers))
    }

    fn with<R>(&self, f: impl FnOnce(&mut Vec<Peer>) -> R) -> R {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    pub fn list(&self) -> Vec<Peer> {
        self.with(|v| v.clone())
    }

    pub fn get(&self, xonly: &[u8; 32]) -> Option<Peer> {
        self.with(|v| v.iter().find(|p| &p.xonly == xonly).cloned())
    }

    /// Record that a valid message from `xonly` arrived now.
    pub fn mark_seen(&self, xonly: &[u8; 32]) {
        self.with(|v| {
            if let Some(p) = v.iter_mut().find(|p| &p.xonly == xonly) {
                p.last_seen = Some((Instant::now(), SystemTime::now()));
            }
        });
    }

    pub fn record_ping(&self, xonly: &[u8; 32], latency_ms: u64, remote: PingResponse) {
        self.with(|v| {
            if let Some(p) = v.iter_mut().find(|p| &p.xonly == xonly) {
                p.latency_ms = Some(latency_ms);
                p.remote_policy = Some(remote);
            }
        });
    }

    pub fn set_policy(&self, xonly: &[u8; 32], policy: Policy) -> bool {
        self.with(|v| match v.iter_mut().find(|p| &p.xonly == xonly) {
            Some(p) => {
                p.policy = policy;
                true
            }
            None => false,
        })
    }

    /// Up to `n` peers we may send to, most recently seen first (never-seen last, then by
    /// index), so a sign request goes to peers that are likely online.
    pub fn select_for_request(&self, n: usize) -> Vec<Peer> {
        let mut v: Vec<Peer> = self.with(|v| v.iter().filter(|p| p.policy.send).cloned().collect());
        v.sort_by(|a, b| {
            let ka = a.last_seen.map(|s| s.0);
            let kb = b.last_seen.map(|s| s.0);
            kb.cmp(&ka).then(a.idx.cmp(&b.idx))
        });
        v.truncate(n);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers() -> Peers {
        let ks =
            crate::frostr::keyset::generate(&mut rand::thread_rng(), 2, 4, None).expect("keyset");
        Peers::from_group(&ks.group, 1)
    }

    #[test]
    fn excludes_self_and_prefers_recently_seen() {
        let p = peers();
        let all = p.list();
        assert_eq!(all.iter().map(|p| p.idx).collect::<Vec<_>>(), vec![2, 3, 4]);
        assert_eq!(p.select_for_request(1)[0].idx, 2);
        p.mark_seen(&all[2].xonly);
        assert_eq!(p.select_for_request(1)[0].idx, 4);
        assert_eq!(p.select_for_request(5).len(), 3);
    }

    #[test]
    fn send_policy_excludes_a_peer_from_requests() {
        let p = peers();
        let all = p.list();
        assert!(p.set_policy(
            &all[0].xonly,
            Policy {
                send: false,
                recv: true
            }
        ));
        let chosen = p.select_for_request(3);
        assert!(chosen.iter().all(|c| c.idx != 2));
        assert_eq!(chosen.len(), 2);
    }
}
