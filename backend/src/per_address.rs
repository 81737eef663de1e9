//! Per-client-address caps on WebSockets and uploads: how many one address may hold open
//! (`--max-connections-per-ip`, uploads in progress included), how many handshakes it may make
//! per second (`--max-handshakes-per-ip`) and how many uploads it may start per minute
//! (`--max-uploads-per-ip`), so that one host cannot take every slot of `--max-connections`,
//! keep the server busy with handshakes, or fill the disk with images.
//!
//! The client address is the TCP peer, or, when the peer is one of `--trusted-proxy`, the
//! right-most `X-Forwarded-For` entry that is not itself a trusted proxy (the proxies append;
//! anything to the left of that came from the client and may be forged).
//!
//! One map, owned by [`PerAddress`] behind a plain mutex: every use is a few map operations,
//! never held across an `.await`.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex, PoisonError},
};

use tokio::time::Instant;

use crate::rate::RateLimiter;

/// Why a handshake was refused by a per-address cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The address already holds `--max-connections-per-ip` WebSockets.
    Connections,
    /// The address made more than `--max-handshakes-per-ip` handshakes in the last second.
    Handshakes,
    /// The address started more than `--max-uploads-per-ip` uploads in the last minute.
    Uploads,
}

/// The per-address state of the whole server (shared by the workers).
#[derive(Debug, Clone)]
pub struct PerAddress {
    inner: Arc<Mutex<Inner>>,
    /// 0: no cap.
    max_open: usize,
    /// Handshakes per second and burst; 0: no cap.
    per_sec: u32,
    /// Uploads per minute and burst; 0: no cap.
    uploads_per_min: u32,
}

#[derive(Debug, Default)]
struct Inner {
    addresses: HashMap<IpAddr, Entry>,
    /// Entries added since the last sweep of idle ones.
    added: usize,
}

#[derive(Debug)]
struct Entry {
    open: usize,
    handshakes: Option<RateLimiter>,
    uploads: Option<RateLimiter>,
}

/// What an address asks to open: each kind is paced by its own rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Handshake,
    Upload,
}

/// Idle entries are swept after this many new ones, so the map stays about the size of the
/// addresses currently connected or recently active.
const SWEEP_EVERY: usize = 1024;

impl PerAddress {
    /// Caps of `max_open` WebSockets and `per_sec` handshakes per second per address (0 turns a
    /// cap off).
    pub fn new(max_open: usize, per_sec: u32) -> Self {
        Self {
            inner: Arc::default(),
            max_open,
            per_sec,
            uploads_per_min: 0,
        }
    }

    /// The same caps, with uploads paced at `per_min` a minute (and burst; 0: no cap).
    pub fn with_uploads(self, per_min: u32) -> Self {
        Self {
            uploads_per_min: per_min,
            ..self
        }
    }

    /// Admits one more WebSocket from `address`, or says which cap refuses it. The returned
    /// guard holds the address's slot until it is dropped.
    pub fn admit(&self, address: IpAddr, now: Instant) -> Result<AddressSlot, Refusal> {
        self.take(address, now, Kind::Handshake)
    }

    /// Admits one more upload from `address`: one of its uploads a minute, and one of its
    /// open slots while the upload runs (a body that takes its time holds one, like a
    /// socket). The returned guard holds the slot until it is dropped.
    pub fn admit_upload(&self, address: IpAddr, now: Instant) -> Result<AddressSlot, Refusal> {
        self.take(address, now, Kind::Upload)
    }

    /// How long until an address refused for its uploads may upload again, in whole seconds
    /// (for `Retry-After`): one upload's share of the minute.
    pub fn upload_retry_secs(&self) -> u32 {
        60u32.div_ceil(self.uploads_per_min.max(1))
    }

    fn take(&self, address: IpAddr, now: Instant, kind: Kind) -> Result<AddressSlot, Refusal> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (per_sec, per_min) = (self.per_sec, self.uploads_per_min);
        let is_new = !inner.addresses.contains_key(&address);
        let entry = inner.addresses.entry(address).or_insert_with(|| Entry {
            open: 0,
            handshakes: (per_sec > 0).then(|| RateLimiter::new(per_sec, per_sec, now)),
            uploads: (per_min > 0).then(|| RateLimiter::per_minute(per_min, per_min, now)),
        });
        if self.max_open > 0 && entry.open >= self.max_open {
            return Err(Refusal::Connections);
        }
        let (bucket, refusal) = match kind {
            Kind::Handshake => (&mut entry.handshakes, Refusal::Handshakes),
            Kind::Upload => (&mut entry.uploads, Refusal::Uploads),
        };
        if let Some(bucket) = bucket
            && !bucket.try_take(now)
        {
            return Err(refusal);
        }
        entry.open += 1;
        if is_new {
            inner.added += 1;
            if inner.added >= SWEEP_EVERY {
                inner.added = 0;
                inner
                    .addresses
                    .retain(|_, entry| entry.open > 0 || !entry.is_rested(now));
            }
        }
        Ok(AddressSlot {
            owner: self.clone(),
            address,
        })
    }

    /// WebSockets open from `address` (for tests and metrics).
    pub fn open(&self, address: IpAddr) -> usize {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.addresses.get(&address).map_or(0, |entry| entry.open)
    }

    fn release(&self, address: IpAddr) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = inner.addresses.get_mut(&address) {
            entry.open = entry.open.saturating_sub(1);
            if entry.open == 0 && entry.is_rested(Instant::now()) {
                inner.addresses.remove(&address);
            }
        }
    }
}

impl Entry {
    /// Nothing to remember: a fresh entry would behave the same.
    fn is_rested(&mut self, now: Instant) -> bool {
        self.handshakes
            .as_mut()
            .is_none_or(|bucket| bucket.is_full(now))
            && self
                .uploads
                .as_mut()
                .is_none_or(|bucket| bucket.is_full(now))
    }
}

/// One WebSocket's hold on its address's count; given back on drop.
#[derive(Debug)]
pub struct AddressSlot {
    owner: PerAddress,
    address: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        self.owner.release(self.address);
    }
}

/// The client's address: `peer`, or, when `peer` is a trusted proxy, the right-most address
/// in `X-Forwarded-For` (`forwarded`, every such header in order) that is not one.
pub fn client_address<'a>(
    peer: IpAddr,
    forwarded: impl DoubleEndedIterator<Item = &'a str>,
    trusted: &[IpAddr],
) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded.flat_map(|value| value.split(',')).collect();
    hops.iter()
        .rev()
        .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
        .find(|hop| !trusted.contains(hop))
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn an_address_holds_at_most_its_cap_and_gets_slots_back() {
        let caps = PerAddress::new(2, 0);
        let now = Instant::now();
        let first = caps.admit(A, now).unwrap();
        let _second = caps.admit(A, now).unwrap();
        assert_eq!(caps.admit(A, now).unwrap_err(), Refusal::Connections);
        // Another address is not affected.
        let _other = caps.admit(B, now).unwrap();
        drop(first);
        assert_eq!(caps.open(A), 1);
        assert!(caps.admit(A, now).is_ok());
    }

    #[test]
    fn handshakes_are_limited_per_second_and_refill() {
        let caps = PerAddress::new(0, 3);
        let now = Instant::now();
        let slots: Vec<_> = (0..3).map(|_| caps.admit(A, now).unwrap()).collect();
        assert_eq!(caps.admit(A, now).unwrap_err(), Refusal::Handshakes);
        // Closing does not give handshakes back; time does.
        drop(slots);
        assert_eq!(caps.admit(A, now).unwrap_err(), Refusal::Handshakes);
        assert!(caps.admit(A, now + Duration::from_millis(400)).is_ok());
        assert!(caps.admit(B, now).is_ok());
    }

    #[test]
    fn uploads_have_their_own_rate_and_hold_a_slot_while_they_run() {
        let caps = PerAddress::new(3, 100).with_uploads(2);
        let now = Instant::now();
        let first = caps.admit_upload(A, now).unwrap();
        let _second = caps.admit_upload(A, now).unwrap();
        assert_eq!(caps.admit_upload(A, now).unwrap_err(), Refusal::Uploads);
        // Uploads in progress count among the address's open slots; handshakes are unaffected.
        assert_eq!(caps.open(A), 2);
        let _socket = caps.admit(A, now).unwrap();
        assert_eq!(caps.admit(A, now).unwrap_err(), Refusal::Connections);
        drop(first);
        // Two a minute: one more after half a minute.
        assert_eq!(caps.upload_retry_secs(), 30);
        assert!(caps.admit_upload(A, now + Duration::from_secs(31)).is_ok());
        assert!(caps.admit_upload(B, now).is_ok());
    }

    #[test]
    fn forgotten_once_idle() {
        let caps = PerAddress::new(5, 0);
        drop(caps.admit(A, Instant::now()).unwrap());
        let inner = caps.inner.lock().unwrap();
        assert!(inner.addresses.is_empty());
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        let forged = ["198.51.100.9, 203.0.113.7"];
        // Untrusted peer: its header is ignored.
        assert_eq!(client_address(A, forged.into_iter(), &[proxy]), A);
        // Trusted peer: the right-most entry not a proxy; the forged left one is skipped.
        assert_eq!(client_address(proxy, forged.into_iter(), &[proxy]), client);
        let chained = ["203.0.113.7", "10.0.0.1"];
        assert_eq!(client_address(proxy, chained.into_iter(), &[proxy]), client);
        // No usable header: the proxy itself.
        assert_eq!(client_address(proxy, ["junk"].into_iter(), &[proxy]), proxy);
    }
}
