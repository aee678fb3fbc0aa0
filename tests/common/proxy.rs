//! A TCP proxy on 127.0.0.1:0 in front of a relay, for relay faults: pass traffic, drop
//! (cut every open connection and refuse new ones, as a relay that went away or a lost
//! link), or delay every chunk in both directions by a fixed time (a slow relay).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    Pass,
    Drop,
    Delay(Duration),
}

pub struct RelayProxy {
    pub addr: SocketAddr,
    mode: watch::Sender<Mode>,
    accepted: watch::Sender<u32>,
    refused: watch::Sender<u32>,
}

impl RelayProxy {
    pub async fn start(target: SocketAddr) -> RelayProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let (mode, rx) = watch::channel(Mode::Pass);
        let (accepted, _) = watch::channel(0u32);
        let (refused, _) = watch::channel(0u32);
        let count = accepted.clone();
        let refusals = refused.clone();
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let now = *rx.borrow();
                if now == Mode::Drop {
                    refusals.send_modify(|n| *n += 1);
                    continue; // the connection closes at once
                }
                count.send_modify(|n| *n += 1);
                let rx = rx.clone();
                tokio::spawn(async move {
                    let Ok(outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (ri, wi) = inbound.into_split();
                    let (ro, wo) = outbound.into_split();
                    let mut cut = rx.clone();
                    tokio::select! {
                        _ = pipe(ri, wo, rx.clone()) => {}
                        _ = pipe(ro, wi, rx.clone()) => {}
                        _ = cut.wait_for(|m| *m == Mode::Drop) => {}
                    }
                });
            }
        });
        RelayProxy {
            addr,
            mode,
            accepted,
            refused,
        }
    }

    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// Connections refused (dropped at once) so far.
    pub fn refused(&self) -> u32 {
        *self.refused.borrow()
    }

    /// Connections let through so far.
    pub fn accepted(&self) -> u32 {
        *self.accepted.borrow()
    }
}

/// Copies `from` to `to`; in `Delay` mode each chunk leaves `d` after it arrived (order kept,
/// throughput not limited).
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mode: watch::Receiver<Mode>,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let writer = async move {
        while let Some((due, bytes)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&bytes).await.is_err() {
                return;
            }
        }
    };
    let reader = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let delay = match *mode.borrow() {
                Mode::Delay(d) => d,
                _ => Duration::ZERO,
            };
            if tx
                .send((tokio::time::Instant::now() + delay, buf[..n].to_vec()))
                .is_err()
            {
                return;
            }
        }
    };
    tokio::join!(reader, writer);
}
