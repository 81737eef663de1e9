//! A token bucket ([`RateLimiter`]): the pace of a connection's messages and reads
//! ([`crate::session`]) and of an address's handshakes and uploads ([`crate::per_address`]).
//! A leaf, below both.

use std::time::Duration;

use tokio::time::Instant;

/// The longest a read waits for its token (a rate of 0 would otherwise wait forever).
const MAX_READ_WAIT: Duration = Duration::from_secs(1);

/// A token bucket: `burst` messages at once, refilled at `per_sec`.
#[derive(Debug)]
pub struct RateLimiter {
    tokens: f64,
    burst: f64,
    per_sec: f64,
    last: Instant,
}

impl RateLimiter {
    /// A full bucket at `now`.
    pub fn new(per_sec: u32, burst: u32, now: Instant) -> Self {
        Self {
            tokens: f64::from(burst),
            burst: f64::from(burst),
            per_sec: f64::from(per_sec),
            last: now,
        }
    }

    /// A full bucket at `now`, refilled at `per_min` a minute.
    pub fn per_minute(per_min: u32, burst: u32, now: Instant) -> Self {
        Self {
            per_sec: f64::from(per_min) / 60.0,
            ..Self::new(0, burst, now)
        }
    }

    /// Whether the bucket has refilled to its burst by `now` (nothing left to remember).
    pub fn is_full(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens + elapsed * self.per_sec >= self.burst
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Takes one token, borrowing it if there is none: how long until the debt is paid
    /// (zero when there was a token). Debts add up, so a caller that waits this long each
    /// time keeps to the rate. Never more than [`MAX_READ_WAIT`].
    pub fn take_or_wait(&mut self, now: Instant) -> Duration {
        self.refill(now);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            return Duration::ZERO;
        }
        Duration::try_from_secs_f64(-self.tokens / self.per_sec)
            .map_or(MAX_READ_WAIT, |wait| wait.min(MAX_READ_WAIT))
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.burst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_borrow_tokens_and_wait_for_the_rate() {
        let start = Instant::now();
        let mut reads = RateLimiter::new(10, 2, start);
        assert_eq!(reads.take_or_wait(start), Duration::ZERO);
        assert_eq!(reads.take_or_wait(start), Duration::ZERO);
        // Empty: the third waits one token's time, the fourth two.
        let third = reads.take_or_wait(start);
        let fourth = reads.take_or_wait(start);
        assert!((third.as_secs_f64() - 0.1).abs() < 1e-6, "{third:?}");
        assert!((fourth.as_secs_f64() - 0.2).abs() < 1e-6, "{fourth:?}");
        // After waiting out the debt, the next again waits one token's time.
        let later = start + Duration::from_millis(200);
        let fifth = reads.take_or_wait(later);
        assert!((fifth.as_secs_f64() - 0.1).abs() < 1e-6, "{fifth:?}");
        // A rate of 0 never waits forever.
        let mut stuck = RateLimiter::new(0, 0, start);
        assert_eq!(stuck.take_or_wait(start), MAX_READ_WAIT);
    }

    #[test]
    fn bucket_allows_a_burst_then_the_rate() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(10, 3, start);
        assert!((0..3).all(|_| limiter.try_take(start)));
        assert!(!limiter.try_take(start));
        assert!(limiter.try_take(start + Duration::from_millis(100)));
        assert!(!limiter.try_take(start + Duration::from_millis(150)));
        // A long pause refills to the burst, not beyond.
        let later = start + Duration::from_secs(60);
        assert!((0..3).all(|_| limiter.try_take(later)));
        assert!(!limiter.try_take(later));
    }
}
