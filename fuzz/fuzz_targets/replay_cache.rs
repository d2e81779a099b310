//! The replay cache against a plain model, under any sequence of inserts
//! and purges at any times (times may go backwards).
//!
//! Input: byte 0 sets the capacity (1 to 16), then operations of 4 bytes:
//! a fingerprint number (few values, so that replays happen, and only 4
//! hash values, so that buckets collide), a time step, an expiry delta and
//! a kind (bit 0: purge instead of insert, bit 1: step back in time).
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use token_auth::error::Reason;
use token_auth::replay::{Fingerprint, ReplayCache};

fn fingerprint(n: u8) -> Fingerprint {
    let mut signature = [0u8; 32];
    // The first 8 bytes are all the cache hashes: give them 4 values.
    signature[0] = n % 4;
    signature[8] = n;
    Fingerprint::of(&signature)
}

fuzz_target!(|data: &[u8]| {
    let [capacity, ops @ ..] = data else {
        return;
    };
    let capacity = 1 + usize::from(*capacity % 16);
    let mut cache = ReplayCache::new(capacity);
    let mut model: HashMap<u8, u64> = HashMap::new();
    let mut now: u64 = 1_000;
    for op in ops.chunks_exact(4) {
        let (id, step, expiry, kind) = (op[0] % 48, u64::from(op[1]), u64::from(op[2]), op[3]);
        now = if kind & 2 == 0 { now + step } else { now.saturating_sub(step) };
        if kind & 1 == 1 {
            cache.purge(now);
            model.retain(|_, &mut expires_at| expires_at > now);
        } else {
            let expires_at = now + expiry;
            let got = cache.insert(fingerprint(id), expires_at, now);
            model.retain(|_, &mut e| e > now);
            let want = if model.contains_key(&id) {
                Err(Reason::Replayed)
            } else if model.len() >= capacity {
                Err(Reason::ReplayCacheFull)
            } else {
                model.insert(id, expires_at);
                Ok(())
            };
            assert_eq!(got, want, "insert {id} expiring {expires_at} at {now}");
        }
        assert_eq!(cache.len(), model.len());
        assert!(cache.len() <= capacity);
    }
});
