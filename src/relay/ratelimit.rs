//! Per-connection message rate limit.

use std::time::Instant;

/// A token bucket: `rate` tokens per second, holding at most two seconds' worth so short
/// bursts (a signing round fanning out to all peers) pass.
#[derive(Debug)]
pub struct TokenBucket {
    tokens: f64,
    rate: f64,
    burst: f64,
    last: Instant,
}

impl TokenBucket {
    /// `rate` 0 means unlimited.
    pub fn new(rate: u32) -> Self {
        let rate = f64::from(rate);
        Self {
            tokens: rate * 2.0,
            rate,
            burst: rate * 2.0,
            last: Instant::now(),
        }
    }

    /// Take one token if there is one.
    pub fn take(&mut self) -> bool {
        self.take_at(Instant::now())
    }

    fn take_at(&mut self, now: Instant) -> bool {
        if self.rate <= 0.0 {
            return true;
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_refill() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10);
        b.last = t0;
        let passed = (0..100).filter(|_| b.take_at(t0)).count();
        assert_eq!(passed, 20, "burst is two seconds' worth");
        assert!(!b.take_at(t0));
        assert!(
            b.take_at(t0 + Duration::from_millis(150)),
            "refills at the rate"
        );
        assert!(!b.take_at(t0 + Duration::from_millis(150)));
    }

    #[test]
    fn zero_rate_is_unlimited() {
        let mut b = TokenBucket::new(0);
        assert!((0..1000).all(|_| b.take()));
    }
}
