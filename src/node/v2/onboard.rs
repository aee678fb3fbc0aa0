//! Onboard requester (§4.10): a device holding only a `bfonboard` (share secret, relays,
//! the inviter's peer id) fetches the group package from the inviter over a short-lived
//! relay pool of its own. The caller then starts a node with [`Onboarded::group`] and
//! [`Onboarded::share`]; its first ping with the inviter exchanges nonces.

use std::time::Duration;

use rand::RngCore;
use tokio::sync::watch;

use super::{V2Error, now_secs};
use crate::frostr::SecretScalar;
use crate::frostr_v2::envelope::{Envelope, Payload};
use crate::frostr_v2::event::{self as v2event, Event};
use crate::frostr_v2::onboard::{Onboarded, Onboarding};
use crate::frostr_v2::receive::check_freshness;
use crate::frostr_v2::types::KIND;
use crate::node::{NodeError, pool};

/// How often the request is published again while no answer came (a relay may have
/// connected late).
const RESEND_EVERY: Duration = Duration::from_secs(3);

/// Ask `inviter` (x-only) for the group this `secret` belongs to, over `relays`.
pub async fn onboard(
    secret: SecretScalar,
    inviter: [u8; 32],
    relays: Vec<String>,
    timeout: Duration,
) -> Result<Onboarded, NodeError> {
    if relays.is_empty() {
        return Err(NodeError::NoRelays);
    }
    let self_id = crate::frostr::types::x_only(&secret.public_key());
    let (state, request) = Onboarding::start(secret.clone(), inviter, &mut rand::rngs::OsRng)
        .map_err(V2Error::from)?;
    let mut rid = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut rid);
    let env = Envelope::new(rid, now_secs(), Payload::OnboardRequest(request));
    let mut filter = nostr::prelude::Filter::new()
        .kind(nostr::prelude::Kind::from(KIND))
        .since(nostr::prelude::Timestamp::from(now_secs()));
    if let (Ok(inv), Ok(me)) = (
        nostr::prelude::PublicKey::from_slice(&inviter),
        nostr::prelude::PublicKey::from_slice(&self_id),
    ) {
        filter = filter.author(inv).pubkey(me);
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let (pool, mut events) = pool::start(
        pool::PoolConfig::new(relays, filter),
        pool::default_tls(),
        stop_rx,
    );
    let deadline = tokio::time::Instant::now() + timeout;
    let result = async {
        let mut next_send = tokio::time::Instant::now();
        loop {
            if tokio::time::Instant::now() >= next_send {
                if pool.connected_count() > 0 {
                    let mut nonce = [0u8; 32];
                    let mut aux = [0u8; 32];
                    rand::rngs::OsRng.fill_bytes(&mut nonce);
                    rand::rngs::OsRng.fill_bytes(&mut aux);
                    let ev = v2event::seal(&secret, &inviter, &env, nonce, &aux, now_secs())
                        .map_err(V2Error::from)?;
                    if let Ok(ev) = nostr::prelude::Event::from_json(ev.to_json()) {
                        pool.publish(&ev);
                    }
                    next_send = tokio::time::Instant::now() + RESEND_EVERY;
                } else {
                    next_send = tokio::time::Instant::now() + Duration::from_millis(100);
                }
            }
            let ev = match tokio::time::timeout_at(deadline.min(next_send), events.recv()).await {
                Ok(Some(ev)) => ev,
                Ok(None) => return Err(NodeError::Stopped),
                Err(_) if tokio::time::Instant::now() >= deadline => {
                    return Err(NodeError::Timeout(timeout));
                }
                Err(_) => continue,
            };
            let Ok(ev) = Event::from_json(&ev.as_json()) else {
                continue;
            };
            let reply = match v2event::check_event(&ev, &self_id) {
                Ok(author) if author == inviter => v2event::open(&secret, &inviter, &ev),
                _ => continue,
            };
            let Ok(reply) = reply else { continue };
            if reply.request_id != env.request_id
                || check_freshness(reply.sent_at, now_secs()).is_err()
            {
                continue;
            }
            match reply.payload {
                Payload::OnboardResponse(r) => return Ok(r),
                Payload::Error(e) => {
                    return Err(V2Error::Rejected {
                        peer: hex::encode(inviter),
                        code: e.code,
                        message: e.message,
                    }
                    .into());
                }
                _ => continue,
            }
        }
    }
    .await;
    let _ = stop_tx.send(true);
    let response = result?;
    Ok(state.finish(&response).map_err(V2Error::from)?)
}
