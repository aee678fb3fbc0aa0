//! The wall clock, where the protocol or persistence needs one (event `created_at`, V2
//! `sent_at`, stored timestamps). Timers, rate limits, health and relay purges use monotonic
//! time (`Instant`) instead, so a clock jump does not move them.
//!
//! Tests can shift this clock by a fixed offset ([`set_test_offset`]) to simulate a jump;
//! nothing in igloo calls that.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static OFFSET_MS: AtomicI64 = AtomicI64::new(0);

/// Milliseconds since the Unix epoch (0 before it).
pub fn unix_ms() -> u64 {
    let real = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    u64::try_from(real.saturating_add(OFFSET_MS.load(Ordering::Relaxed))).unwrap_or(0)
}

/// Seconds since the Unix epoch.
pub fn unix_secs() -> u64 {
    unix_ms() / 1000
}

/// Fault injection for tests only: shift the wall clock by `offset_secs` (a clock jump), for
/// the whole process. Nothing in igloo calls it.
#[doc(hidden)]
pub fn set_test_offset(offset_secs: i64) {
    OFFSET_MS.store(offset_secs.saturating_mul(1000), Ordering::Relaxed);
}
