//! What uploads have cost: each user's bytes today (`--upload-quota`) and the bytes the
//! stored images take in all (`--max-uploads-total`). In memory on one node; in Redis in
//! cluster mode, so that every node counts against the same numbers.
//!
//! The total is the last sweep's measurement of the objects on disk (`base`) plus the new
//! bytes reserved since that sweep began (`added - base_added`): what a sweep removes leaves
//! the count with its next measurement, and a count that drifted (a crash between reserving and
//! writing, two nodes storing the same new image at once) is set right by it.

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
    time::{SystemTime, UNIX_EPOCH},
};

use redis::{AsyncCommands as _, Script};

use crate::redis_set::Conn;

/// Seconds in a quota day (days are UTC days, counted from the Unix epoch).
const DAY_SECS: u64 = 24 * 3600;

/// The Redis hash of the total: `base`, `base_added`, `added` (see the module docs).
const TOTAL_KEY: &str = "chat:{uploads}:total";

/// A user's bytes on `day` (a string counter that expires after the day is over).
fn user_key(user: &str, day: u64) -> String {
    format!("chat:{{uploads}}:day:{day}:{user}")
}

/// The ledger could not be read or written (Redis unreachable).
#[derive(Debug, thiserror::Error)]
#[error("the upload quotas cannot be checked: {0}")]
pub struct LedgerError(#[from] redis::RedisError);

/// Today (a UTC day number) and the seconds until it ends.
pub(super) fn today() -> (u64, u64) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    (now / DAY_SECS, DAY_SECS - now % DAY_SECS)
}

/// Where the counts are kept.
pub(super) enum Ledger {
    /// One node: in memory (a restart forgets today's per-user counts; the total is measured
    /// on disk again by the first sweep).
    Local(Mutex<Local>),
    /// Cluster mode: in Redis, shared by every node.
    Redis { redis: Conn, script: Script },
}

/// The in-memory counts.
#[derive(Default)]
pub(super) struct Local {
    /// The day `used` counts.
    day: u64,
    /// Bytes per user key on `day`.
    used: HashMap<String, u64>,
    base: u64,
    base_added: u64,
    added: u64,
}

impl Local {
    /// `used` for today (yesterday's counts dropped).
    fn today(&mut self) -> &mut HashMap<String, u64> {
        let (day, _) = today();
        if self.day != day {
            self.day = day;
            self.used.clear();
        }
        &mut self.used
    }

    fn total(&self) -> u64 {
        (self.base + self.added).saturating_sub(self.base_added)
    }
}

impl Ledger {
    /// Counts in memory.
    pub(super) fn local() -> Self {
        Self::Local(Mutex::default())
    }

    /// Counts in the Redis that `redis` reaches.
    pub(super) fn redis(redis: Conn) -> Self {
        Self::Redis {
            redis,
            script: Script::new(include_str!("quota.lua")),
        }
    }

    fn lock(local: &Mutex<Local>) -> std::sync::MutexGuard<'_, Local> {
        local.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The bytes `user` uploaded today.
    pub(super) async fn used_today(&self, user: &str) -> Result<u64, LedgerError> {
        match self {
            Self::Local(local) => Ok(Self::lock(local).today().get(user).copied().unwrap_or(0)),
            Self::Redis { redis, .. } => {
                let used: Option<u64> = redis.clone().get(user_key(user, today().0)).await?;
                Ok(used.unwrap_or(0))
            }
        }
    }

    /// Adds `bytes` to `user`'s count for today if that stays within `quota`; whether it did.
    pub(super) async fn charge(
        &self,
        user: &str,
        bytes: u64,
        quota: u64,
    ) -> Result<bool, LedgerError> {
        match self {
            Self::Local(local) => {
                let mut local = Self::lock(local);
                let used = local.today().entry(user.to_owned()).or_default();
                if used.saturating_add(bytes) > quota {
                    return Ok(false);
                }
                *used += bytes;
                Ok(true)
            }
            Self::Redis { redis, script } => {
                let (day, _) = today();
                let charged: i64 = script
                    .key(user_key(user, day))
                    .arg("charge")
                    .arg(bytes)
                    .arg(quota)
                    // Kept a little past the day's end, for clocks that disagree a little.
                    .arg(2 * DAY_SECS)
                    .invoke_async(&mut redis.clone())
                    .await?;
                Ok(charged == 1)
            }
        }
    }

    /// Gives back what [`Ledger::charge`] took, for an upload that was not stored after all.
    pub(super) async fn refund(&self, user: &str, bytes: u64) -> Result<(), LedgerError> {
        match self {
            Self::Local(local) => {
                if let Some(used) = Self::lock(local).today().get_mut(user) {
                    *used = used.saturating_sub(bytes);
                }
                Ok(())
            }
            Self::Redis { redis, .. } => {
                let _: i64 = redis.clone().decr(user_key(user, today().0), bytes).await?;
                Ok(())
            }
        }
    }

    /// The bytes the stored images take, as far as the ledger knows.
    pub(super) async fn total(&self) -> Result<u64, LedgerError> {
        match self {
            Self::Local(local) => Ok(Self::lock(local).total()),
            Self::Redis { redis, script } => Ok(script
                .key(TOTAL_KEY)
                .arg("total")
                .invoke_async(&mut redis.clone())
                .await?),
        }
    }

    /// Reserves `bytes` of new objects if the total stays within `cap`; whether it did.
    pub(super) async fn reserve(&self, bytes: u64, cap: u64) -> Result<bool, LedgerError> {
        match self {
            Self::Local(local) => {
                let mut local = Self::lock(local);
                if local.total().saturating_add(bytes) > cap {
                    return Ok(false);
                }
                local.added += bytes;
                Ok(true)
            }
            Self::Redis { redis, script } => {
                let reserved: i64 = script
                    .key(TOTAL_KEY)
                    .arg("reserve")
                    .arg(bytes)
                    .arg(cap)
                    .invoke_async(&mut redis.clone())
                    .await?;
                Ok(reserved == 1)
            }
        }
    }

    /// Gives back a reservation whose object was not written.
    pub(super) async fn release(&self, bytes: u64) -> Result<(), LedgerError> {
        match self {
            Self::Local(local) => {
                let mut local = Self::lock(local);
                local.added = local.added.saturating_sub(bytes);
                Ok(())
            }
            Self::Redis { redis, .. } => {
                let negative = -i64::try_from(bytes).unwrap_or(i64::MAX);
                let _: i64 = redis.clone().hincr(TOTAL_KEY, "added", negative).await?;
                Ok(())
            }
        }
    }

    /// Where the reservations stand: what a sweep notes before it measures.
    pub(super) async fn added(&self) -> Result<u64, LedgerError> {
        match self {
            Self::Local(local) => Ok(Self::lock(local).added),
            Self::Redis { redis, .. } => {
                let added: Option<u64> = redis.clone().hget(TOTAL_KEY, "added").await?;
                Ok(added.unwrap_or(0))
            }
        }
    }

    /// A sweep that began when the reservations stood at `added_at_start` measured `bytes` on
    /// disk: that is the total now, plus what was reserved since it began (counted twice if
    /// the sweep saw it written, which errs on the side of the disk).
    pub(super) async fn measured(
        &self,
        bytes: u64,
        added_at_start: u64,
    ) -> Result<(), LedgerError> {
        match self {
            Self::Local(local) => {
                let mut local = Self::lock(local);
                local.base = bytes;
                local.base_added = added_at_start;
                Ok(())
            }
            Self::Redis { redis, script } => {
                let _: i64 = script
                    .key(TOTAL_KEY)
                    .arg("measured")
                    .arg(bytes)
                    .arg(added_at_start)
                    .invoke_async(&mut redis.clone())
                    .await?;
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_quota_is_charged_within_its_limit_and_refunded() {
        let ledger = Ledger::local();
        assert!(ledger.charge("ann", 60, 100).await.unwrap());
        assert!(!ledger.charge("ann", 41, 100).await.unwrap());
        assert!(ledger.charge("bob", 100, 100).await.unwrap());
        ledger.refund("ann", 60).await.unwrap();
        assert_eq!(ledger.used_today("ann").await.unwrap(), 0);
        assert!(ledger.charge("ann", 100, 100).await.unwrap());
    }

    #[tokio::test]
    async fn the_total_is_the_last_measurement_plus_what_was_reserved_since() {
        let ledger = Ledger::local();
        assert!(ledger.reserve(60, 100).await.unwrap());
        // A sweep starts, more is reserved while it measures, and it finds 50 on disk.
        let at_start = ledger.added().await.unwrap();
        assert!(ledger.reserve(30, 100).await.unwrap());
        ledger.measured(50, at_start).await.unwrap();
        assert_eq!(ledger.total().await.unwrap(), 80);
        assert!(!ledger.reserve(21, 100).await.unwrap());
        ledger.release(30).await.unwrap();
        assert_eq!(ledger.total().await.unwrap(), 50);
    }
}
