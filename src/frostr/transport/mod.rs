//! bifrost v1 transport (spec §4–§5): kind-20004 events, AES-256-GCM content, the
//! `[tag, id, data]` envelope and typed payloads. Pure: randomness and time are parameters.

pub mod cipher;
pub mod envelope;
pub mod event;
pub mod payload;
