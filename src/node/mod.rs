//! The running signer: relay pool, request/response correlation, handlers, peers, health.

pub mod pool;
