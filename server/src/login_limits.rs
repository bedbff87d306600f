//! In-memory bounds on sign-in attempts, checked before any database work
//! or password hashing.
//!
//! - A token bucket per client address ([`ADDRESS_BURST`] attempts, then
//!   one every [`ADDRESS_REFILL`]): random user names cannot get around
//!   it, and a refusal costs neither a hash nor a query.
//! - The attempts in flight per (user name, address): the failures the
//!   audit log counts are recorded only once a password was checked, so
//!   attempts checked at the same moment would each see the count from
//!   before the others. Counting the ones in flight as failures makes
//!   "count, then check" atomic within this process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Sign-in attempts one client address may make at once, before the
/// bucket refills at one per [`ADDRESS_REFILL`].
pub const ADDRESS_BURST: u32 = 20;
/// See [`ADDRESS_BURST`].
pub const ADDRESS_REFILL: Duration = Duration::from_secs(3);
/// Addresses tracked at most; past that the longest idle one is forgotten.
const MAX_ADDRESSES: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets and the attempts in flight.
#[derive(Debug, Default)]
pub struct LoginLimits {
    addresses: Mutex<HashMap<String, Bucket>>,
    in_flight: Mutex<HashMap<(String, String), u64>>,
}

impl LoginLimits {
    /// Takes one attempt from `address`'s bucket, or says how long until
    /// the next one is allowed.
    pub fn take(&self, address: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let refill = ADDRESS_REFILL.as_secs_f64();
        let mut map = self.addresses.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_ADDRESSES && !map.contains_key(address) {
            map.retain(|_, b| {
                b.tokens + now.duration_since(b.at).as_secs_f64() / refill
                    < f64::from(ADDRESS_BURST)
            });
            if map.len() >= MAX_ADDRESSES {
                let idle = map.iter().min_by_key(|(_, b)| b.at).map(|(k, _)| k.clone());
                if let Some(k) = idle {
                    map.remove(&k);
                }
            }
        }
        let b = map.entry(address.to_owned()).or_insert(Bucket {
            tokens: f64::from(ADDRESS_BURST),
            at: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() / refill)
            .min(f64::from(ADDRESS_BURST));
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) * refill))
        }
    }

    /// Registers an attempt for `name` from `address` until the returned
    /// guard is dropped.
    pub fn begin(self: &Arc<Self>, name: &str, address: &str) -> InFlight {
        let key = (name.to_owned(), address.to_owned());
        let mut map = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let here = map.get(&key).copied().unwrap_or(0);
        let for_name = map
            .iter()
            .filter(|((n, _), _)| n == name)
            .map(|(_, c)| *c)
            .sum();
        *map.entry(key.clone()).or_insert(0) += 1;
        InFlight {
            limits: self.clone(),
            key,
            here,
            for_name,
        }
    }
}

/// An attempt being checked; see [`LoginLimits::begin`].
#[derive(Debug)]
pub struct InFlight {
    limits: Arc<LoginLimits>,
    key: (String, String),
    /// Other attempts in flight for this name from this address.
    pub here: u64,
    /// Other attempts in flight for this name from any address.
    pub for_name: u64,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut map = self
            .limits
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(c) = map.get_mut(&self.key) {
            *c -= 1;
            if *c == 0 {
                map.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_a_burst_then_waits() {
        let l = LoginLimits::default();
        for _ in 0..ADDRESS_BURST {
            l.take("203.0.113.1").unwrap();
        }
        let wait = l.take("203.0.113.1").unwrap_err();
        assert!(wait > Duration::ZERO && wait <= ADDRESS_REFILL, "{wait:?}");
        l.take("203.0.113.2")
            .expect("another address is not affected");
    }

    #[test]
    fn attempts_in_flight_are_counted_until_dropped() {
        let l = Arc::new(LoginLimits::default());
        let a = l.begin("ann", "1.1.1.1");
        let b = l.begin("ann", "1.1.1.1");
        let c = l.begin("ann", "2.2.2.2");
        assert_eq!((a.here, a.for_name), (0, 0));
        assert_eq!((b.here, b.for_name), (1, 1));
        assert_eq!((c.here, c.for_name), (0, 2));
        drop((a, b, c));
        let d = l.begin("ann", "1.1.1.1");
        assert_eq!((d.here, d.for_name), (0, 0));
    }
}
