//! One task per WebSocket connection.
//!
//! The task reads client messages and answers them directly on the socket (so a client that
//! floods or reads slowly only waits on itself), and forwards live events from its bounded
//! queue. Overflow policy: a connection whose queue fills up is disconnected (close code 1008)
//! rather than silently losing events, so a client never believes it saw everything when it
//! did not; it can reconnect and re-subscribe.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use futures_util::{FutureExt, SinkExt};
use nostr::prelude::{ClientMessage, EventId, RelayMessage, SubscriptionId};
use tokio::sync::{Notify, mpsc};
use tokio::time::timeout;
use tracing::Instrument;

use super::filter::CompiledFilter;
use super::ratelimit::TokenBucket;
use super::state::{Relay, ReqError};
use super::stats::{add, inc};
use super::subscription::{ConnId, Outbound};

/// A write that makes no progress for this long means the peer is gone or not reading.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// The close handshake is a courtesy; do not hold a dead connection's memory for it.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Keep-alive ping period; also how often idleness is checked.
const PING_INTERVAL: Duration = Duration::from_secs(30);
/// A connection silent (not even a pong) for this long is dropped, freeing its slot.
const IDLE_TIMEOUT: Duration = Duration::from_secs(95);
/// Live events written per flush; bounds the time between checks of the socket.
const LIVE_BATCH: usize = 256;
/// Client messages answered per flush; bounds how long live events wait behind a pipeline.
const INBOUND_BATCH: usize = 64;

/// Why the loop ended.
enum End {
    /// The client closed or the socket failed: nothing more to send.
    Gone,
    /// We close with this code and reason.
    Close(u16, &'static str),
}

/// A socket write failed or timed out: the connection is over.
struct WriteFailed;

/// Serve one upgraded socket until it closes.
pub(crate) async fn serve(relay: Arc<Relay>, mut socket: WebSocket, peer: SocketAddr) {
    let slot = match relay.admit(peer.ip()) {
        Ok(slot) => slot,
        Err(notice) => {
            tracing::debug!(%peer, "relay connection refused: {notice}");
            let _ = send(&mut socket, RelayMessage::notice(notice).as_json()).await;
            let _ = close(&mut socket, close_code::POLICY, "too many connections").await;
            return;
        }
    };
    let span = tracing::info_span!("relay_conn", conn = slot.id, %peer);
    async move {
        tracing::debug!("relay connection opened");
        let (tx, rx) = mpsc::channel(relay.config().send_queue.max(1));
        let kicked = Arc::new(Notify::new());
        relay.register(slot.id, tx, Arc::clone(&kicked));
        let end = run(&relay, &mut socket, slot.id, rx, &kicked).await;
        // Release the slot and subscriptions before the (possibly slow) close handshake.
        drop(slot);
        if let End::Close(code, reason) = end {
            tracing::debug!(code, reason, "closing relay connection");
            let _ = close(&mut socket, code, reason).await;
        }
        tracing::debug!("relay connection closed");
    }
    .instrument(span)
    .await
}

async fn run(
    relay: &Relay,
    socket: &mut WebSocket,
    conn: ConnId,
    mut rx: mpsc::Receiver<Outbound>,
    kicked: &Notify,
) -> End {
    let cfg = relay.config();
    let mut bucket = TokenBucket::new(cfg.messages_per_second);
    let mut shutdown = relay.shutdown_signal();
    if *shutdown.borrow() {
        return End::Close(close_code::AWAY, "relay shutting down");
    }
    let mut ping = tokio::time::interval(PING_INTERVAL);
    ping.reset();
    let mut last_seen = Instant::now();
    loop {
        let step = tokio::select! {
            biased;
            _ = kicked.notified() => {
                return End::Close(close_code::POLICY, "error: too slow; send queue overflowed");
            }
            _ = shutdown.changed() => return End::Close(close_code::AWAY, "relay shutting down"),
            msg = socket.recv() => {
                last_seen = Instant::now();
                // Answer everything the client has already sent, then flush once: pipelined
                // publishers get their OKs in a few large writes instead of one each.
                let mut msg = msg;
                let mut handled = 1;
                loop {
                    match on_message(relay, socket, conn, msg, &mut bucket).await {
                        Ok(true) => {}
                        Ok(false) | Err(WriteFailed) => return End::Gone,
                    }
                    if handled >= INBOUND_BATCH {
                        break;
                    }
                    match socket.recv().now_or_never() {
                        Some(next) => msg = next,
                        None => break,
                    }
                    handled += 1;
                }
                flush(socket).await
            }
            Some(first) = rx.recv() => {
                // A kick must not wait for a write blocked on a client that stopped reading.
                tokio::select! {
                    r = forward(relay, socket, first, &mut rx) => r,
                    _ = kicked.notified() => return End::Gone,
                }
            }
            _ = ping.tick() => {
                if last_seen.elapsed() > IDLE_TIMEOUT {
                    return End::Close(close_code::AWAY, "idle timeout");
                }
                send_msg(socket, Message::Ping(Default::default())).await
            }
        };
        if step.is_err() {
            return End::Gone;
        }
    }
}

/// Handle one inbound frame, queueing (not flushing) any reply. False: the client is gone.
async fn on_message(
    relay: &Relay,
    socket: &mut WebSocket,
    conn: ConnId,
    msg: Option<Result<Message, axum::Error>>,
    bucket: &mut TokenBucket,
) -> Result<bool, WriteFailed> {
    match msg {
        None | Some(Err(_)) | Some(Ok(Message::Close(_))) => Ok(false),
        Some(Ok(Message::Text(text))) => {
            on_text(relay, socket, conn, text.as_str(), bucket).await?;
            Ok(true)
        }
        Some(Ok(Message::Binary(_))) => {
            inc(&relay.counters.rejected.unsupported);
            let notice = RelayMessage::notice("invalid: binary messages are not supported");
            feed(socket, notice.as_json()).await?;
            Ok(true)
        }
        // Ping/pong: tungstenite answers pings itself.
        Some(Ok(_)) => Ok(true),
    }
}

/// Write a live event and whatever else is already queued, then flush once.
async fn forward(
    relay: &Relay,
    socket: &mut WebSocket,
    first: Outbound,
    rx: &mut mpsc::Receiver<Outbound>,
) -> Result<(), WriteFailed> {
    feed(socket, event_frame(&first)).await?;
    let mut n = 1;
    while n < LIVE_BATCH {
        let Ok(next) = rx.try_recv() else { break };
        feed(socket, event_frame(&next)).await?;
        n += 1;
    }
    add(&relay.counters.events_out, n);
    flush(socket).await
}

fn event_frame(out: &Outbound) -> String {
    event_text(&out.sub, &out.entry.json)
}

fn event_text(quoted_sub: &str, json: &str) -> String {
    let mut s = String::with_capacity(12 + quoted_sub.len() + json.len());
    s.push_str("[\"EVENT\",");
    s.push_str(quoted_sub);
    s.push(',');
    s.push_str(json);
    s.push(']');
    s
}

async fn on_text(
    relay: &Relay,
    socket: &mut WebSocket,
    conn: ConnId,
    text: &str,
    bucket: &mut TokenBucket,
) -> Result<(), WriteFailed> {
    let cfg = relay.config();
    let rej = &relay.counters.rejected;
    if text.len() > cfg.max_message_bytes {
        inc(&rej.too_large);
        let why = format!(
            "invalid: message is {} bytes, more than the {} allowed",
            text.len(),
            cfg.max_message_bytes
        );
        return feed(socket, refusal(text, &why)).await;
    }
    if !bucket.take() {
        inc(&rej.rate_limited);
        let why = format!(
            "rate-limited: more than {} messages per second",
            cfg.messages_per_second
        );
        return feed(socket, refusal(text, &why)).await;
    }
    let msg = match ClientMessage::from_json(text) {
        Ok(m) => m,
        Err(e) => {
            inc(&rej.invalid);
            let why = format!("invalid: could not parse message: {e}");
            return feed(socket, refusal(text, &why)).await;
        }
    };
    match msg {
        ClientMessage::Event(event) => {
            let id = event.id;
            let ack = relay.publish_owned(Box::new(event.into_owned())).await;
            // Queued, not flushed: the read loop flushes once per batch of pipelined messages.
            feed(
                socket,
                RelayMessage::ok(id, ack.accepted, ack.message).as_json(),
            )
            .await
        }
        ClientMessage::Req {
            subscription_id,
            filters,
        } => {
            let id = subscription_id.as_str();
            match relay
                .prepare_req(id, &filters)
                .and_then(|f| relay.subscribe(conn, id, f))
            {
                Ok(stored) => {
                    let quoted = serde_json::to_string(id).unwrap_or_default();
                    for e in &stored {
                        feed(socket, event_text(&quoted, &e.json)).await?;
                    }
                    add(&relay.counters.events_out, stored.len());
                    feed(
                        socket,
                        RelayMessage::eose(subscription_id.into_owned()).as_json(),
                    )
                    .await?;
                    flush(socket).await
                }
                Err(ReqError::Gone) => Err(WriteFailed),
                Err(e) => closed(socket, &subscription_id, &e.to_string()).await,
            }
        }
        ClientMessage::Count {
            subscription_id,
            filter,
        } => match CompiledFilter::compile(&filter) {
            Ok(f) => {
                let n = relay.count(std::slice::from_ref(&f));
                let msg = RelayMessage::count(subscription_id.into_owned(), n);
                feed(socket, msg.as_json()).await
            }
            Err(e) => {
                inc(&rej.invalid);
                closed(socket, &subscription_id, &e.to_string()).await
            }
        },
        ClientMessage::Close(subscription_id) => {
            relay.unsubscribe(conn, subscription_id.as_str());
            Ok(())
        }
        ClientMessage::Auth(event) => {
            inc(&rej.unsupported);
            let msg = "unsupported: this relay does not use AUTH (NIP-42)";
            feed(socket, RelayMessage::ok(event.id, false, msg).as_json()).await
        }
        ClientMessage::NegOpen { .. }
        | ClientMessage::NegMsg { .. }
        | ClientMessage::NegClose { .. } => {
            inc(&rej.unsupported);
            let msg = "unsupported: negentropy (NIP-77) is not supported";
            feed(socket, RelayMessage::notice(msg).as_json()).await
        }
    }
}

async fn closed(socket: &mut WebSocket, id: &SubscriptionId, why: &str) -> Result<(), WriteFailed> {
    feed(socket, RelayMessage::closed(id.clone(), why).as_json()).await
}

/// The right NIP-01 answer to a message we will not process: `OK false` for an EVENT whose id
/// we can read, `CLOSED` for a REQ/COUNT whose subscription id we can read, else `NOTICE`.
fn refusal(text: &str, why: &str) -> String {
    let parsed: Option<Vec<serde_json::Value>> = serde_json::from_str(text).ok();
    let verb = parsed
        .as_ref()
        .and_then(|v| v.first())
        .and_then(|v| v.as_str());
    let second = parsed.as_ref().and_then(|v| v.get(1));
    match (verb, second) {
        (Some("EVENT"), Some(ev)) => {
            let id = ev
                .get("id")
                .and_then(|v| v.as_str())
                .and_then(|s| EventId::from_hex(s).ok());
            if let Some(id) = id {
                return RelayMessage::ok(id, false, why).as_json();
            }
        }
        (Some("REQ" | "COUNT"), Some(serde_json::Value::String(sub))) => {
            return RelayMessage::closed(SubscriptionId::new(sub.as_str()), why).as_json();
        }
        _ => {}
    }
    RelayMessage::notice(why).as_json()
}

async fn send(socket: &mut WebSocket, text: String) -> Result<(), WriteFailed> {
    send_msg(socket, Message::Text(text.into())).await
}

async fn send_msg(socket: &mut WebSocket, msg: Message) -> Result<(), WriteFailed> {
    match timeout(WRITE_TIMEOUT, socket.send(msg)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(WriteFailed),
    }
}

async fn feed(socket: &mut WebSocket, text: String) -> Result<(), WriteFailed> {
    match timeout(WRITE_TIMEOUT, socket.feed(Message::Text(text.into()))).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(WriteFailed),
    }
}

async fn flush(socket: &mut WebSocket) -> Result<(), WriteFailed> {
    match timeout(WRITE_TIMEOUT, socket.flush()).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(WriteFailed),
    }
}

async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) -> Result<(), WriteFailed> {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    match timeout(CLOSE_TIMEOUT, socket.send(Message::Close(Some(frame)))).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(WriteFailed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_picks_the_nip01_message() {
        let id = "a".repeat(64);
        let ev = format!(r#"["EVENT",{{"id":"{id}","junk":1}}]"#);
        assert_eq!(
            refusal(&ev, "invalid: x"),
            format!(r#"["OK","{id}",false,"invalid: x"]"#)
        );
        assert_eq!(
            refusal(r#"["REQ","s1",{"kinds":"x"}]"#, "invalid: y"),
            r#"["CLOSED","s1","invalid: y"]"#
        );
        assert_eq!(
            refusal("not json", "invalid: z"),
            r#"["NOTICE","invalid: z"]"#
        );
        assert_eq!(
            refusal(r#"["EVENT",{"id":"zz"}]"#, "invalid: w"),
            r#"["NOTICE","invalid: w"]"#
        );
    }

    #[test]
    fn event_text_splices_json() {
        assert_eq!(event_text("\"s\"", "{}"), r#"["EVENT","s",{}]"#);
    }
}
