//! The group's other members as this node sees them: index, policy, liveness, and the
//! partial signatures we issued to each (the v1 share-leak guard, spec §11.1).
//!
//! Effective policy of a peer, first match wins: a policy set through the API (persisted),
//! then its `PEER_POLICIES` entry, then the default, which allows both directions (as
//! igloo-server's effective default).

use std::collections::HashMap;
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

/// Where a peer's effective policy comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicySource {
    /// No explicit policy: allow both directions.
    Default,
    /// The `PEER_POLICIES` setting.
    Env,
    /// Set through the API; persisted, and wins over `PEER_POLICIES`.
    Api,
}

impl PolicySource {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicySource::Default => "default",
            PolicySource::Env => "env",
            PolicySource::Api => "api",
        }
    }
}

/// Everything about our policy towards a peer besides the two directions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyMeta {
    pub label: Option<String>,
    pub note: Option<String>,
    /// Most partial signatures this peer may ever obtain from us; `None` = no cap.
    pub partial_cap: Option<u64>,
    pub source: PolicySource,
    /// Unix seconds of the last change (none for the default).
    pub last_updated: Option<u64>,
}

impl Default for PolicyMeta {
    fn default() -> Self {
        Self {
            label: None,
            note: None,
            partial_cap: None,
            source: PolicySource::Default,
            last_updated: None,
        }
    }
}

// The `PEER_POLICIES` seeds are configuration values: they live with the configuration
// (which must not depend on the node) and are used here.
pub use crate::config::policy::{PolicySeed, parse_peer_key, parse_policy_seeds};

/// A cap refused a partial signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "the cap of {cap} partial signatures for this peer does not allow {asked} more ({issued} issued)"
)]
pub struct CapReached {
    pub issued: u64,
    pub cap: u64,
    /// Partial signatures the refused request asked for (one per sighash).
    pub asked: u64,
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
    pub meta: PolicyMeta,
    /// Partial signatures we issued to this peer (persisted when the node has a store).
    pub partials_issued: u64,
    /// Last time any valid message from it arrived.
    pub last_seen: Option<(Instant, SystemTime)>,
    /// Round-trip of the last successful ping, in milliseconds.
    pub latency_ms: Option<u64>,
    /// The peer's policy towards us, from its last `/ping/res`.
    pub remote_policy: Option<PingResponse>,
    /// Since when a request to it has gone unanswered (nothing heard from it since it was
    /// asked); cleared by its next message. Such a peer counts as offline and is asked last.
    pub missed_since: Option<Instant>,
}

impl Peer {
    /// Heard from within `window` and no request to it unanswered since.
    pub fn is_online(&self, now: Instant, window: std::time::Duration) -> bool {
        self.missed_since.is_none()
            && self
                .last_seen
                .is_some_and(|(at, _)| now.saturating_duration_since(at) < window)
    }

    /// Its cap, when the partial signatures it obtained have reached it.
    pub fn cap_reached(&self) -> Option<CapReached> {
        self.cap_refuses(1)
    }

    /// Its cap, when `asked` more partial signatures would pass it (count + asked > cap).
    pub fn cap_refuses(&self, asked: u64) -> Option<CapReached> {
        self.meta
            .partial_cap
            .filter(|c| self.partials_issued.saturating_add(asked) > *c)
            .map(|cap| CapReached {
                issued: self.partials_issued,
                cap,
                asked,
            })
    }
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
                meta: PolicyMeta::default(),
                partials_issued: 0,
                last_seen: None,
                latency_ms: None,
                remote_policy: None,
                missed_since: None,
            })
            .collect();
        Self(Mutex::new(peers))
    }

    /// Peers given as `(idx, x-only key, compressed key)` (the V2 node's members).
    pub fn from_members(members: impl IntoIterator<Item = (u32, [u8; 32], [u8; 33])>) -> Self {
        let peers = members
            .into_iter()
            .map(|(idx, xonly, compressed)| Peer {
                idx,
                xonly,
                compressed,
                policy: Policy::default(),
                meta: PolicyMeta::default(),
                partials_issued: 0,
                last_seen: None,
                latency_ms: None,
                remote_policy: None,
                missed_since: None,
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
                p.missed_since = None;
            }
        });
    }

    /// Record that `xonly`, asked at `asked_at`, did not answer in time: unless a message
    /// from it arrived since, it counts as offline and is asked last until it is heard again.
    pub fn mark_missed(&self, xonly: &[u8; 32], asked_at: Instant) {
        self.with(|v| {
            if let Some(p) = v.iter_mut().find(|p| &p.xonly == xonly) {
                if p.last_seen.is_none_or(|(at, _)| at <= asked_at) {
                    p.missed_since.get_or_insert(asked_at);
                }
            }
        });
    }

    /// A ping round trip without a v1 policy reply (the V2 node keeps its own form of it).
    pub fn record_latency(&self, xonly: &[u8; 32], latency_ms: u64) {
        self.with(|v| {
            if let Some(p) = v.iter_mut().find(|p| &p.xonly == xonly) {
                p.latency_ms = Some(latency_ms);
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

    /// Set a peer's policy and its details at once; false when it is not a peer.
    pub fn set_full_policy(&self, xonly: &[u8; 32], policy: Policy, meta: PolicyMeta) -> bool {
        self.with(|v| match v.iter_mut().find(|p| &p.xonly == xonly) {
            Some(p) => {
                p.policy = policy;
                p.meta = meta;
                true
            }
            None => false,
        })
    }

    /// The policy a peer has without an API-set one: its seed, else the default.
    pub fn fallback_policy(seed: Option<&PolicySeed>) -> (Policy, PolicyMeta) {
        match seed {
            Some(s) => (
                Policy {
                    send: s.allow_send.unwrap_or(true),
                    recv: s.allow_receive.unwrap_or(true),
                },
                PolicyMeta {
                    label: s.label.clone(),
                    note: s.note.clone(),
                    partial_cap: s.partial_cap,
                    source: PolicySource::Env,
                    last_updated: None,
                },
            ),
            None => (Policy::default(), PolicyMeta::default()),
        }
    }

    /// Apply the start-up state: seeds from `PEER_POLICIES`, then stored (API) policies which
    /// win, and the persisted partial counts. Entries for keys outside the group are ignored.
    pub fn load(
        &self,
        seeds: &[PolicySeed],
        stored: &HashMap<[u8; 32], crate::store::policies::StoredPolicy>,
        counts: &HashMap<[u8; 32], u64>,
    ) {
        self.with(|v| {
            for p in v.iter_mut() {
                let (policy, meta) = match stored.get(&p.xonly) {
                    Some(s) => (
                        Policy {
                            send: s.allow_send,
                            recv: s.allow_receive,
                        },
                        PolicyMeta {
                            label: s.label.clone(),
                            note: s.note.clone(),
                            partial_cap: s.partial_cap,
                            source: PolicySource::Api,
                            last_updated: Some(s.last_updated),
                        },
                    ),
                    None => Self::fallback_policy(seeds.iter().find(|s| s.pubkey == p.xonly)),
                };
                p.policy = policy;
                p.meta = meta;
                p.partials_issued = counts.get(&p.xonly).copied().unwrap_or(0);
            }
        });
    }

    /// Count one partial signature for `xonly` unless that would pass its cap. Check and
    /// increment happen under one lock, so concurrent requests cannot both take the last
    /// slot. Returns the new count and the cap in force.
    pub fn reserve_partial(
        &self,
        xonly: &[u8; 32],
    ) -> Option<Result<(u64, Option<u64>), CapReached>> {
        self.reserve_partials(xonly, 1)
    }

    /// Count `n` partial signatures (one per sighash of a session) for `xonly`, all or none:
    /// refused whole when count + n would pass its cap.
    pub fn reserve_partials(
        &self,
        xonly: &[u8; 32],
        n: u64,
    ) -> Option<Result<(u64, Option<u64>), CapReached>> {
        self.with(|v| {
            let p = v.iter_mut().find(|p| &p.xonly == xonly)?;
            if let Some(c) = p.cap_refuses(n) {
                return Some(Err(c));
            }
            p.partials_issued = p.partials_issued.saturating_add(n);
            Some(Ok((p.partials_issued, p.meta.partial_cap)))
        })
    }

    /// Raise in-memory counts to at least the stored ones (another node of this process
    /// may have flushed counts after we loaded them).
    pub fn raise_counts(&self, counts: &HashMap<[u8; 32], u64>) {
        self.with(|v| {
            for p in v.iter_mut() {
                if let Some(n) = counts.get(&p.xonly) {
                    p.partials_issued = p.partials_issued.max(*n);
                }
            }
        });
    }

    /// Every peer's partial count, for persisting.
    pub fn partial_counts(&self) -> Vec<([u8; 32], u64)> {
        self.with(|v| {
            v.iter()
                .filter(|p| p.partials_issued > 0)
                .map(|p| (p.xonly, p.partials_issued))
                .collect()
        })
    }

    /// Up to `n` peers we may send to: those that answered their last request first, each
    /// part most recently seen first (never-seen last, then by index), so a sign request goes
    /// to peers that are likely online.
    pub fn select_for_request(&self, n: usize) -> Vec<Peer> {
        let mut v: Vec<Peer> = self.with(|v| v.iter().filter(|p| p.policy.send).cloned().collect());
        v.sort_by(|a, b| {
            let ka = a.last_seen.map(|s| s.0);
            let kb = b.last_seen.map(|s| s.0);
            (a.missed_since.is_some().cmp(&b.missed_since.is_some()))
                .then(kb.cmp(&ka))
                .then(a.idx.cmp(&b.idx))
        });
        v.truncate(n);
        v
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The three peers of member 1 in a fresh 2-of-4 group (indexes 2, 3, 4).
    pub(in crate::node) fn peers() -> Peers {
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
    fn a_peer_that_missed_a_request_is_offline_and_asked_last_until_heard_again() {
        let p = peers();
        let all = p.list();
        let window = std::time::Duration::from_secs(150);
        p.mark_seen(&all[1].xonly);
        p.mark_seen(&all[0].xonly);
        assert_eq!(p.select_for_request(1)[0].idx, 2);
        let asked = Instant::now();
        p.mark_missed(&all[0].xonly, asked);
        let order: Vec<u32> = p.select_for_request(3).iter().map(|x| x.idx).collect();
        assert_eq!(order, vec![3, 4, 2], "the silent peer comes last");
        let silent = p.get(&all[0].xonly).expect("peer");
        assert!(!silent.is_online(Instant::now(), window));
        assert!(
            p.get(&all[1].xonly)
                .expect("peer")
                .is_online(Instant::now(), window)
        );
        // Heard again: online and first again.
        p.mark_seen(&all[0].xonly);
        assert!(
            p.get(&all[0].xonly)
                .expect("peer")
                .is_online(Instant::now(), window)
        );
        assert_eq!(p.select_for_request(1)[0].idx, 2);
        // A peer that answered after it was asked is not marked by a late check.
        p.mark_missed(&all[0].xonly, asked);
        assert!(p.get(&all[0].xonly).expect("peer").missed_since.is_none());
    }

    #[test]
    fn cap_is_checked_and_counted_atomically() {
        let p = peers();
        let k = p.list()[0].xonly;
        assert_eq!(p.reserve_partial(&k), Some(Ok((1, None))));
        let (policy, mut meta) = Peers::fallback_policy(None);
        meta.partial_cap = Some(2);
        assert!(p.set_full_policy(&k, policy, meta));
        assert_eq!(p.reserve_partial(&k), Some(Ok((2, Some(2)))));
        assert_eq!(
            p.reserve_partial(&k),
            Some(Err(CapReached {
                issued: 2,
                cap: 2,
                asked: 1
            }))
        );
        assert_eq!(p.get(&k).map(|x| x.partials_issued), Some(2));
        assert_eq!(p.reserve_partial(&[0u8; 32]), None);
        assert_eq!(p.partial_counts(), vec![(k, 2)]);
        // A session of two sighashes is counted twice and refused whole past the cap.
        let (policy, mut meta) = Peers::fallback_policy(None);
        meta.partial_cap = Some(5);
        assert!(p.set_full_policy(&k, policy, meta));
        assert_eq!(p.reserve_partials(&k, 2), Some(Ok((4, Some(5)))));
        assert_eq!(
            p.reserve_partials(&k, 2),
            Some(Err(CapReached {
                issued: 4,
                cap: 5,
                asked: 2
            }))
        );
        assert_eq!(p.get(&k).map(|x| x.partials_issued), Some(4));
        assert_eq!(p.reserve_partials(&k, 1), Some(Ok((5, Some(5)))));
    }

    #[test]
    fn stored_policy_wins_over_seed_which_wins_over_default() {
        let p = peers();
        let all = p.list();
        let seed = |k: [u8; 32]| PolicySeed {
            pubkey: k,
            allow_send: Some(false),
            allow_receive: None,
            label: Some("env".into()),
            note: None,
            partial_cap: Some(3),
        };
        let seeds = vec![seed(all[0].xonly), seed(all[1].xonly)];
        let mut stored = HashMap::new();
        stored.insert(
            all[1].xonly,
            crate::store::policies::StoredPolicy::new(true, false, None, None, None, 7),
        );
        let mut counts = HashMap::new();
        counts.insert(all[2].xonly, 9);
        p.load(&seeds, &stored, &counts);
        let now = p.list();
        assert_eq!(
            now[0].policy,
            Policy {
                send: false,
                recv: true
            }
        );
        assert_eq!(now[0].meta.source, PolicySource::Env);
        assert_eq!(now[0].meta.partial_cap, Some(3));
        assert_eq!(
            now[1].policy,
            Policy {
                send: true,
                recv: false
            }
        );
        assert_eq!(now[1].meta.source, PolicySource::Api);
        assert_eq!(now[1].meta.last_updated, Some(7));
        assert_eq!(now[2].policy, Policy::default());
        assert_eq!(now[2].meta.source, PolicySource::Default);
        assert_eq!(now[2].partials_issued, 9);
    }

    #[test]
    fn policy_seeds_parse_igloo_server_format_and_reject_mistakes() {
        let x = "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";
        let got = parse_policy_seeds(&format!(
            r#"[{{"pubkey":"02{x}","allowSend":false,"label":"laptop"}},
                {{"pubkey":"{x}","allowReceive":false,"partialCap":10}}]"#
        ))
        .expect("parses");
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].allow_send, Some(false));
        assert_eq!(got[0].allow_receive, None);
        assert_eq!(got[0].label.as_deref(), Some("laptop"));
        assert_eq!(got[1].partial_cap, Some(10));
        assert_eq!(got[0].pubkey, got[1].pubkey);
        let one = parse_policy_seeds(&format!(r#"{{"pubkey":"{x}","allowSend":true}}"#))
            .expect("single object");
        assert_eq!(one.len(), 1);
        assert!(parse_policy_seeds("").expect("empty").is_empty());
        assert!(parse_policy_seeds("[{\"pubkey\":\"zz\"}]").is_err());
        assert!(parse_policy_seeds(&format!(r#"[{{"pubkey":"{x}","alowSend":false}}]"#)).is_err());
        assert!(parse_policy_seeds("[").is_err());
        assert!(parse_policy_seeds("42").is_err());
    }

    #[test]
    fn peer_keys_in_every_accepted_form() {
        // x of the generator: a valid key, which npub decoding checks.
        let mut x = [0u8; 32];
        hex::decode_to_slice(
            "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
            &mut x,
        )
        .expect("hex");
        assert_eq!(parse_peer_key(&hex::encode(x)), Some(x));
        let mut c = vec![3u8];
        c.extend_from_slice(&x);
        assert_eq!(parse_peer_key(&hex::encode(&c)), Some(x));
        c[0] = 4;
        assert_eq!(parse_peer_key(&hex::encode(&c)), None);
        let npub = crate::frostr::nip19::encode_npub(&x);
        assert_eq!(parse_peer_key(&npub), Some(x));
        assert_eq!(parse_peer_key("zz"), None);
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
