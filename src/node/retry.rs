//! A request that survives a silent peer (v1 and V2): when the peers asked first do not
//! answer within their share of the sign timeout (one restarting just as it is asked, its
//! relay connection gone), the next peers are asked too, and the first complete answer wins,
//! all within the one overall timeout. A peer that stays silent is marked (`mark_missed`),
//! so the next request asks it last.
//!
//! The peers are split into *disjoint* groups: a peer is asked at most once per request.
//! For v1 this is what keeps a retry safe (spec §11.1): v1 nonces are static, so every
//! partial a share issues is one more linear equation towards its secret and three reveal
//! it. A retry that re-asked the same peer would draw a second partial for the same sighash
//! (a new session with other members); with disjoint groups each peer issues at most one
//! partial per requested sighash, as without retries (and its own guard still counts and
//! caps it). Our own share computes one partial per session, but only the session whose
//! signature is returned is ever aggregated and published, so only one of ours is exposed.
//! A late answer to an abandoned session finds no request waiting and is dropped unread.

use std::future::Future;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::time::Instant;

use super::NodeError;
use super::peers::{Peer, Peers};

/// The groups of `need` peers to ask, in order, from `ordered` (best first, see
/// [`Peers::select_for_request`]); a peer is in one group at most, and peers that fill no
/// whole group are left out. `need == 0` (a 1-of-n group) is one empty group.
pub(super) fn disjoint_groups(ordered: Vec<Peer>, need: usize) -> Vec<Vec<Peer>> {
    if need == 0 {
        return vec![Vec::new()];
    }
    ordered.chunks_exact(need).map(<[Peer]>::to_vec).collect()
}

/// Failures of this node rather than of the peers asked: asking others would fail the same.
fn fails_for_everyone(e: &NodeError) -> bool {
    matches!(e, NodeError::Stopped | NodeError::NotPublished)
}

/// Runs `attempt(group, deadline)` for the first group; when it has no result after its share
/// of `overall` (overall / groups), or fails because of its peers, the next group is asked
/// too while earlier attempts keep running. The first success wins; the others are dropped
/// (each attempt forgets its pending request when dropped). Every attempt ends by the one
/// deadline, so the whole takes at most `overall`. Peers of a group still silent when the
/// next group is asked are marked in `table`.
pub(super) async fn first_answer<T, Fut>(
    table: &Peers,
    groups: Vec<Vec<Peer>>,
    overall: Duration,
    mut attempt: impl FnMut(Vec<Peer>, Instant) -> Fut,
) -> Result<T, NodeError>
where
    Fut: Future<Output = Result<T, NodeError>>,
{
    let deadline = Instant::now() + overall;
    let share = overall / u32::try_from(groups.len().max(1)).unwrap_or(u32::MAX);
    let mut running = FuturesUnordered::new();
    // When each group was asked; `None` once its attempt has ended.
    let mut asked: Vec<Option<std::time::Instant>> = Vec::with_capacity(groups.len());
    let mut last_error = None;
    let mut next_at = Instant::now();
    loop {
        let more = asked.len() < groups.len();
        if running.is_empty() || (more && Instant::now() >= next_at) {
            let Some(group) = groups.get(asked.len()) else {
                break;
            };
            // The groups still waiting now have had their share: mark who stayed silent.
            for (g, at) in groups.iter().zip(&asked) {
                if let Some(at) = at {
                    for p in g {
                        table.mark_missed(&p.xonly, *at);
                    }
                }
            }
            let i = asked.len();
            asked.push(Some(std::time::Instant::now()));
            let fut = attempt(group.clone(), deadline);
            running.push(async move { (i, fut.await) });
            next_at = Instant::now() + share;
            continue;
        }
        tokio::select! {
            Some((i, result)) = running.next() => {
                if let Some(slot) = asked.get_mut(i) {
                    *slot = None;
                }
                match result {
                    Ok(t) => return Ok(t),
                    Err(e) if fails_for_everyone(&e) => return Err(e),
                    Err(e) => {
                        tracing::info!(error = %e, "peers failed a request; asking others if any");
                        // Ask the next group at once rather than at its turn.
                        next_at = Instant::now();
                        last_error = Some(e);
                    }
                }
            }
            () = tokio::time::sleep_until(next_at), if more => {}
        }
    }
    Err(match last_error {
        Some(NodeError::Timeout(_)) | None => NodeError::Timeout(overall),
        Some(e) => e,
    })
}

/// Runs a closure when dropped: a request forgets its pending entry however it ends (answered,
/// timed out, or dropped because another attempt won).
pub(super) struct OnDrop<F: FnMut()>(pub F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::peers::tests::peers as table;

    #[test]
    fn groups_are_disjoint_and_whole() {
        let t = table();
        let all = t.select_for_request(usize::MAX);
        let g = disjoint_groups(all.clone(), 1);
        assert_eq!(g.len(), 3);
        let g = disjoint_groups(all.clone(), 2);
        assert_eq!(g.len(), 1, "the third peer fills no group of two");
        assert_eq!(
            g[0].iter().map(|p| p.idx).collect::<Vec<_>>(),
            vec![2, 3],
            "best first"
        );
        let one_empty = disjoint_groups(all, 0);
        assert!(one_empty.len() == 1 && one_empty[0].is_empty());
    }

    /// The first group never answers: the second is asked, its answer wins, the silent peer
    /// is marked; no group is asked twice. (Paused clock: no real waiting, no timing.)
    #[tokio::test(start_paused = true)]
    async fn a_silent_group_is_passed_over_and_marked() {
        let t = table();
        let groups = disjoint_groups(t.select_for_request(usize::MAX), 1);
        let asked = std::sync::Mutex::new(Vec::new());
        let got = first_answer(&t, groups, Duration::from_secs(30), |g, deadline| {
            let idx = g[0].idx;
            asked.lock().expect("lock").push(idx);
            async move {
                if idx == 2 {
                    tokio::time::sleep_until(deadline).await;
                    Err(NodeError::Timeout(Duration::from_secs(30)))
                } else {
                    Ok(idx)
                }
            }
        })
        .await;
        assert_eq!(got.expect("the second group answers"), 3);
        assert_eq!(*asked.lock().expect("lock"), vec![2, 3]);
        let silent = t.list().into_iter().find(|p| p.idx == 2).expect("peer");
        assert!(silent.missed_since.is_some());
        assert_eq!(t.select_for_request(1)[0].idx, 3, "asked last next time");
    }

    /// A group that fails fast (a bad reply) hands over at once; when every group fails the
    /// last error is returned, and a node-level failure stops at once.
    #[tokio::test(start_paused = true)]
    async fn failures_hand_over_and_the_last_error_is_returned() {
        let t = table();
        let groups = disjoint_groups(t.select_for_request(usize::MAX), 1);
        let asked = std::sync::Mutex::new(0);
        let got: Result<(), _> =
            first_answer(&t, groups.clone(), Duration::from_secs(30), |_, _| {
                *asked.lock().expect("lock") += 1;
                async { Err(NodeError::BadReply("x".into())) }
            })
            .await;
        assert!(matches!(got, Err(NodeError::BadReply(_))), "{got:?}");
        assert_eq!(*asked.lock().expect("lock"), 3);
        let mut asked = 0;
        let got: Result<(), _> = first_answer(&t, groups, Duration::from_secs(30), |_, _| {
            asked += 1;
            async { Err(NodeError::NotPublished) }
        })
        .await;
        assert!(matches!(got, Err(NodeError::NotPublished)), "{got:?}");
        assert_eq!(asked, 1);
    }
}
