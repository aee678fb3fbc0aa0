//! `SIGN_POLICY=approve`: incoming sign requests wait here until a person approves or denies
//! them through the API, or until they expire.
//!
//! A request expires when the requester stops waiting. v1 does not tell us the requester's
//! timeout, so we use our own `FROSTR_SIGN_TIMEOUT` (igloo-server's default 30 s matches
//! igloo-core's), counted from when the request arrived.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use rand::RngCore;

use super::peers::CapReached;
use crate::frostr::session::SessionPackage;
use crate::frostr::transport::envelope::MessageId;
use crate::frostr_v2::envelope::SignSession;

/// Most requests waiting at once; more are refused so a peer cannot grow memory.
pub const MAX_PENDING: usize = 64;

// SIGN_POLICY is a configuration value (config must not depend on the node).
pub use crate::config::policy::SignPolicy;

/// Why an approval or denial did not go through.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error("no pending sign request has this id")]
    NotFound,
    #[error("the sign request expired; the requester no longer waits for it")]
    Expired,
    #[error("the peer's policy no longer allows answering it")]
    PolicyDenied,
    #[error("{0}")]
    CapReached(#[from] CapReached),
    #[error("the partial signature could not be recorded, so it was not sent: {0}")]
    NotRecorded(String),
    #[error("signing failed: {0}")]
    Failed(String),
}

/// The request itself, in the protocol it arrived in. Only public data.
#[derive(Clone, Debug)]
pub enum SignRequest {
    /// A v1 `/sign/req`: its message id and session.
    V1 {
        msg_id: MessageId,
        session: SessionPackage,
    },
    /// A V2 `SignRequest` from member `from`: the `request_id` to answer and its session.
    /// Its nonce codes are spent only when it is approved.
    V2 {
        from: u16,
        request_id: String,
        session: Box<SignSession>,
    },
}

impl SignRequest {
    /// The 32-byte messages to sign.
    pub fn sighashes(&self) -> Vec<[u8; 32]> {
        match self {
            SignRequest::V1 { session, .. } => session.hashes.iter().map(|h| h.sighash.0).collect(),
            SignRequest::V2 { session, .. } => session.hashes.clone(),
        }
    }

    /// The partial signatures answering it would count toward the peer's cap: one per
    /// sighash for v1 (each is one more equation on the share, spec §11.1); one per session
    /// for V2, as its responder counts (one-time nonces, nothing leaks).
    pub fn partials(&self) -> u64 {
        match self {
            SignRequest::V1 { session, .. } => {
                u64::try_from(session.hashes.len()).unwrap_or(u64::MAX)
            }
            SignRequest::V2 { .. } => 1,
        }
    }

    /// Free text the requester attached (untrusted); V2 content bytes shown as UTF-8 when
    /// they are, else as hex.
    pub fn content(&self) -> Option<String> {
        match self {
            SignRequest::V1 { session, .. } => session.content.clone(),
            SignRequest::V2 { session, .. } => session
                .content
                .as_ref()
                .map(|c| String::from_utf8(c.clone()).unwrap_or_else(|_| hex::encode(c))),
        }
    }
}

/// One waiting sign request. The session holds only public data.
#[derive(Clone, Debug)]
pub struct PendingSign {
    /// Our id for the API (16 random bytes, hex); not the wire message id.
    pub id: String,
    pub peer: [u8; 32],
    pub request: SignRequest,
    pub received_at: SystemTime,
    pub expires_at: SystemTime,
    deadline: Instant,
}

impl PendingSign {
    pub fn new(peer: [u8; 32], request: SignRequest, ttl: Duration) -> Self {
        let mut b = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut b);
        let now = SystemTime::now();
        Self {
            id: hex::encode(b),
            peer,
            request,
            received_at: now,
            expires_at: now + ttl,
            deadline: Instant::now() + ttl,
        }
    }

    pub fn is_expired(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Time left before it expires.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

/// The queue of waiting requests.
#[derive(Debug, Default)]
pub struct Approvals(Mutex<Vec<PendingSign>>);

/// The queue is full.
#[derive(Debug, thiserror::Error)]
#[error("{MAX_PENDING} sign requests already wait for approval")]
pub struct QueueFull;

impl Approvals {
    fn with<R>(&self, f: impl FnOnce(&mut Vec<PendingSign>) -> R) -> R {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    pub fn push(&self, p: PendingSign) -> Result<(), QueueFull> {
        self.with(|v| {
            v.retain(|x| !x.is_expired());
            if v.len() >= MAX_PENDING {
                return Err(QueueFull);
            }
            v.push(p);
            Ok(())
        })
    }

    /// The requests still waiting, oldest first.
    pub fn list(&self) -> Vec<PendingSign> {
        self.with(|v| {
            v.retain(|x| !x.is_expired());
            v.clone()
        })
    }

    /// Remove a request to approve or deny it.
    pub fn take(&self, id: &str) -> Result<PendingSign, ApprovalError> {
        self.with(|v| {
            let pos = v
                .iter()
                .position(|x| x.id == id)
                .ok_or(ApprovalError::NotFound)?;
            let p = v.remove(pos);
            if p.is_expired() {
                return Err(ApprovalError::Expired);
            }
            Ok(p)
        })
    }

    /// Remove `id` if it has expired; returns it so the caller can report the expiry.
    pub fn expire(&self, id: &str) -> Option<PendingSign> {
        self.with(|v| {
            let pos = v.iter().position(|x| x.id == id && x.is_expired())?;
            Some(v.remove(pos))
        })
    }

    pub fn len(&self) -> usize {
        self.with(|v| v.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frostr::session::{SessionTemplate, SigVector, create_session};

    fn session() -> SessionPackage {
        let ks =
            crate::frostr::keyset::generate(&mut rand::thread_rng(), 2, 3, None).expect("keyset");
        create_session(
            &ks.group,
            SessionTemplate::new(vec![SigVector::new([1; 32])], vec![1, 2], 1),
        )
        .expect("session")
    }

    fn v1(msg: u8, session: SessionPackage) -> SignRequest {
        SignRequest::V1 {
            msg_id: MessageId([msg; 16]),
            session,
        }
    }

    #[test]
    fn sign_policy_parses() {
        assert_eq!("auto".parse(), Ok(SignPolicy::Auto));
        assert_eq!(" Approve ".parse(), Ok(SignPolicy::Approve));
        assert!("yes".parse::<SignPolicy>().is_err());
        assert_eq!(SignPolicy::default(), SignPolicy::Auto);
    }

    #[test]
    fn take_once_then_not_found() {
        let q = Approvals::default();
        let p = PendingSign::new([1; 32], v1(2, session()), Duration::from_secs(30));
        let id = p.id.clone();
        q.push(p).expect("push");
        assert_eq!(q.list().len(), 1);
        assert!(q.expire(&id).is_none(), "not expired yet");
        assert_eq!(q.take(&id).expect("take").peer, [1; 32]);
        assert!(matches!(q.take(&id), Err(ApprovalError::NotFound)));
        assert!(q.is_empty());
    }

    #[test]
    fn expired_requests_leave_the_queue() {
        let q = Approvals::default();
        let s = session();
        let p = PendingSign::new([1; 32], v1(2, s.clone()), Duration::ZERO);
        let id = p.id.clone();
        q.push(p.clone()).expect("push");
        assert!(q.expire(&id).is_some());
        q.push(p).expect("push");
        assert!(matches!(q.take(&id), Err(ApprovalError::Expired)));
        q.push(PendingSign::new([1; 32], v1(3, s), Duration::ZERO))
            .expect("push");
        assert!(q.list().is_empty());
    }

    #[test]
    fn the_queue_is_bounded() {
        let q = Approvals::default();
        let s = session();
        for _ in 0..MAX_PENDING {
            q.push(PendingSign::new(
                [1; 32],
                v1(0, s.clone()),
                Duration::from_secs(60),
            ))
            .expect("room");
        }
        assert!(
            q.push(PendingSign::new([1; 32], v1(0, s), Duration::from_secs(60)))
                .is_err()
        );
    }
}
