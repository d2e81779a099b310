//! The bounded replay cache.
//!
//! Every accepted token is remembered by its signature until the moment it
//! could no longer verify anyway, so a token is accepted once however the
//! OTP window moves (the community module remembered only the latest OTP
//! per JID: A, B, A was accepted). The cache is bounded: when it is full of
//! live entries it refuses new tokens instead of forgetting a live one,
//! which would reopen that token to replay. Each user gets a bounded share
//! of it (`replay_per_user`), so that one account cannot fill it and lock
//! out a whole host.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};

use crate::error::Reason;

/// How a token is remembered: the first half of its verified HMAC-SHA256.
/// 128 bits keep accidental collisions out of reach while halving memory.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Fingerprint([u8; 16]);

impl Fingerprint {
    /// Takes the first 16 bytes of a verified signature.
    #[must_use]
    pub fn of(signature: &[u8; 32]) -> Self {
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&signature[..16]);
        Fingerprint(bytes)
    }
}

impl Hash for Fingerprint {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut word = [0u8; 8];
        word.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_le_bytes(word));
    }
}

/// Uses the fingerprint's own bits as the hash. Only signatures that
/// verified under our secret are ever inserted, and without the secret
/// nobody can choose those bits, so there is no hash flooding to defend
/// against and no reason to pay for SipHash.
#[derive(Default)]
pub struct FingerprintHasher(u64);

impl Hasher for FingerprintHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

/// Whose token an entry is, for the per-user share: a keyed hash of the
/// JID. The key is random per cache, so nobody can pick two names that
/// share a count; 64 bits make an accidental clash negligible.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Owner(u64);

impl Owner {
    /// Entries inserted without an owner count against no share.
    pub const NONE: Owner = Owner(0);
}

/// A remembered token and whose it is.
#[derive(Clone, Copy, Debug)]
struct Entry {
    fingerprint: Fingerprint,
    owner: Owner,
}

/// The entries that expire at the same second.
#[derive(Debug)]
struct Bucket {
    expires_at: u64,
    entries: Vec<Entry>,
}

/// How many expired entries one check forgets at most: more than one
/// check can add, so expiry keeps up with any rate of logins.
pub const EXPIRY_BATCH: usize = 16;

/// Remembers accepted tokens until they expire, within a fixed bound.
#[derive(Debug)]
pub struct ReplayCache {
    seen: HashSet<Fingerprint, BuildHasherDefault<FingerprintHasher>>,
    // Sorted by expiry. Tokens arrive with one of a handful of expiry times
    // (one per step of the window), so there are few buckets and expiry is
    // a pop from the front.
    buckets: VecDeque<Bucket>,
    capacity: usize,
    per_user: usize,
    // Live entries per owner. The keys are already keyed hashes, so they
    // are their own hash, as fingerprints are.
    owned: HashMap<Owner, usize, BuildHasherDefault<FingerprintHasher>>,
    owner_key: RandomState,
}

impl Hash for Owner {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0);
    }
}

impl ReplayCache {
    /// An empty cache that holds at most `capacity` live entries, with no
    /// per-user share.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self::with_share(capacity, capacity)
    }

    /// An empty cache that holds at most `capacity` live entries, at most
    /// `per_user` of them for any one owner.
    #[must_use]
    pub fn with_share(capacity: usize, per_user: usize) -> Self {
        ReplayCache {
            seen: HashSet::default(),
            buckets: VecDeque::new(),
            capacity,
            per_user,
            owned: HashMap::default(),
            owner_key: RandomState::new(),
        }
    }

    /// Who `username@host` is for the per-user share.
    #[must_use]
    pub fn owner(&self, username: &[u8], host: &[u8]) -> Owner {
        let mut hasher = self.owner_key.build_hasher();
        hasher.write(username);
        hasher.write_u8(b'@');
        hasher.write(host);
        // 0 is `Owner::NONE`.
        Owner(hasher.finish().max(1))
    }

    /// The most live entries one owner may hold.
    #[must_use]
    pub fn per_user(&self) -> usize {
        self.per_user
    }

    /// How many live entries `owner` holds.
    #[must_use]
    pub fn held_by(&self, owner: Owner) -> usize {
        self.owned.get(&owner).copied().unwrap_or(0)
    }

    /// How many entries are live (not yet purged).
    #[must_use]
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether nothing is remembered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// The bound on live entries.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Forgets every entry that expires at or before `now`.
    pub fn purge(&mut self, now: u64) {
        self.expire(now, usize::MAX);
    }

    /// Forgets at most `budget` of the entries that expire at or before
    /// `now`, oldest first. Called with a small budget on every check, so
    /// that the work of expiry is spread over the calls instead of a whole
    /// step's worth of entries (a million, on a busy server) being dropped
    /// in one pause.
    pub fn expire(&mut self, now: u64, mut budget: usize) {
        while budget > 0 {
            let Some(front) = self.buckets.front_mut() else { break };
            if front.expires_at > now {
                break;
            }
            if let Some(entry) = front.entries.pop() {
                self.seen.remove(&entry.fingerprint);
                if entry.owner != Owner::NONE {
                    if let Some(count) = self.owned.get_mut(&entry.owner) {
                        *count -= 1;
                        if *count == 0 {
                            self.owned.remove(&entry.owner);
                        }
                    }
                }
                budget -= 1;
            } else {
                self.buckets.pop_front();
                self.give_back_memory();
            }
        }
    }

    /// Shrinks the set after a burst has drained, so that a peak does not
    /// hold its memory for ever.
    fn give_back_memory(&mut self) {
        if self.seen.capacity() > 1024 && self.seen.len() < self.seen.capacity() / 4 {
            self.seen.shrink_to(self.seen.len() * 2);
        }
        if self.owned.capacity() > 1024 && self.owned.len() < self.owned.capacity() / 4 {
            self.owned.shrink_to(self.owned.len() * 2);
        }
    }

    /// Records a token as used until `expires_at`, unless it was used before.
    /// Expired entries are forgotten a few at a time (see [`Self::expire`]);
    /// a full cache therefore only refuses when none is left, since the
    /// batch would have freed room. An entry that is expired but not yet
    /// forgotten cannot cause a false `Replayed`: its token no longer passes
    /// the OTP check.
    ///
    /// # Errors
    /// [`Reason::Replayed`] if it is remembered; [`Reason::ReplayCacheFull`]
    /// if `capacity` live entries leave no room.
    pub fn insert(&mut self, fingerprint: Fingerprint, expires_at: u64, now: u64) -> Result<(), Reason> {
        self.insert_for(fingerprint, Owner::NONE, expires_at, now)
    }

    /// [`Self::insert`], counted against `owner`'s share.
    ///
    /// # Errors
    /// [`Reason::Replayed`] if it is remembered; [`Reason::ReplayUserFull`]
    /// if `owner` already holds `per_user` live entries;
    /// [`Reason::ReplayCacheFull`] if `capacity` live entries leave no room.
    pub fn insert_for(
        &mut self,
        fingerprint: Fingerprint,
        owner: Owner,
        expires_at: u64,
        now: u64,
    ) -> Result<(), Reason> {
        self.expire(now, EXPIRY_BATCH);
        if self.seen.contains(&fingerprint) {
            return Err(Reason::Replayed);
        }
        if owner != Owner::NONE && self.held_by(owner) >= self.per_user {
            return Err(Reason::ReplayUserFull);
        }
        if self.seen.len() >= self.capacity {
            return Err(Reason::ReplayCacheFull);
        }
        self.seen.insert(fingerprint);
        if owner != Owner::NONE {
            *self.owned.entry(owner).or_insert(0) += 1;
        }
        let entry = Entry { fingerprint, owner };
        // Search from the back: new tokens usually expire last.
        let position = self.buckets.iter().rposition(|bucket| bucket.expires_at <= expires_at);
        match position {
            Some(index) if self.buckets[index].expires_at == expires_at => {
                self.buckets[index].entries.push(entry);
            }
            Some(index) => {
                self.buckets.insert(index + 1, Bucket { expires_at, entries: vec![entry] });
            }
            None => self.buckets.push_front(Bucket { expires_at, entries: vec![entry] }),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fingerprint(n: u64) -> Fingerprint {
        let mut signature = [0u8; 32];
        // Spread the bits as an HMAC would.
        signature[..8].copy_from_slice(&n.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
        signature[8..16].copy_from_slice(&n.to_le_bytes());
        Fingerprint::of(&signature)
    }

    #[test]
    fn accepts_once_and_refuses_replays() {
        let mut cache = ReplayCache::new(10);
        assert_eq!(cache.insert(fingerprint(1), 90, 0), Ok(()));
        assert_eq!(cache.insert(fingerprint(2), 90, 0), Ok(()));
        assert_eq!(cache.insert(fingerprint(1), 90, 10), Err(Reason::Replayed));
        assert_eq!(cache.insert(fingerprint(1), 120, 89), Err(Reason::Replayed));
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn entries_live_until_their_expiry_and_no_longer() {
        let mut cache = ReplayCache::new(10);
        cache.insert(fingerprint(1), 60, 0).expect("fresh");
        cache.insert(fingerprint(2), 90, 0).expect("fresh");
        cache.insert(fingerprint(3), 30, 0).expect("fresh");
        cache.purge(29);
        assert_eq!(cache.len(), 3);
        cache.purge(30);
        assert_eq!(cache.len(), 2);
        cache.purge(60);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.insert(fingerprint(2), 90, 89), Err(Reason::Replayed));
        cache.purge(90);
        assert!(cache.is_empty());
        assert!(cache.buckets.is_empty());
    }

    #[test]
    fn a_full_cache_fails_closed_and_recovers_on_expiry() {
        let mut cache = ReplayCache::new(3);
        for n in 0..3 {
            cache.insert(fingerprint(n), 60 + n * 30, 0).expect("room");
        }
        assert_eq!(cache.insert(fingerprint(9), 60, 1), Err(Reason::ReplayCacheFull));
        // A replay is still a replay, not a capacity problem.
        assert_eq!(cache.insert(fingerprint(0), 60, 1), Err(Reason::Replayed));
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.insert(fingerprint(9), 90, 60), Ok(()));
        assert_eq!(cache.insert(fingerprint(10), 90, 60), Err(Reason::ReplayCacheFull));
    }

    #[test]
    fn buckets_stay_sorted_whatever_the_insertion_order() {
        let mut cache = ReplayCache::new(100);
        for (n, expiry) in [(1, 90), (2, 60), (3, 120), (4, 60), (5, 90), (6, 30), (7, 150)] {
            cache.insert(fingerprint(n), expiry, 0).expect("fresh");
        }
        let expiries: Vec<u64> = cache.buckets.iter().map(|b| b.expires_at).collect();
        assert_eq!(expiries, vec![30, 60, 90, 120, 150]);
        cache.purge(90);
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn a_flood_keeps_the_bound_and_drains() {
        let mut cache = ReplayCache::new(1000);
        let mut refused = 0;
        for n in 0..5000u64 {
            let now = n / 100;
            if cache.insert(fingerprint(n), now + 60, now) == Err(Reason::ReplayCacheFull) {
                refused += 1;
            }
            assert!(cache.len() <= 1000);
        }
        assert!(refused > 0);
        cache.purge(1000);
        assert!(cache.is_empty());
        assert!(cache.buckets.is_empty());
    }

    #[test]
    fn expiry_is_spread_over_the_calls() {
        let mut cache = ReplayCache::new(1_000_000);
        for n in 0..10_000u64 {
            cache.insert(fingerprint(n), 60, 0).expect("fresh");
        }
        // One later insert forgets only a batch of the expired entries...
        cache.insert(fingerprint(20_000), 120, 60).expect("fresh");
        assert_eq!(cache.len(), 10_001 - EXPIRY_BATCH);
        // ...and later checks the rest, a batch each.
        for _ in 0..10_000 / EXPIRY_BATCH + 1 {
            cache.expire(60, EXPIRY_BATCH);
        }
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.buckets.len(), 1);
    }

    #[test]
    fn memory_is_given_back_after_a_burst() {
        let mut cache = ReplayCache::new(1_000_000);
        for n in 0..100_000u64 {
            cache.insert(fingerprint(n), 60, 0).expect("fresh");
        }
        let peak = cache.seen.capacity();
        cache.purge(60);
        assert!(cache.is_empty());
        assert!(cache.seen.capacity() < peak / 4, "{} of {peak}", cache.seen.capacity());
    }

    #[test]
    fn each_user_gets_a_bounded_share() {
        // The case: capacity 10, 3 per user.
        let mut cache = ReplayCache::with_share(10, 3);
        let alice = cache.owner(b"alice", b"example.com");
        for n in 0..3 {
            assert_eq!(cache.insert_for(fingerprint(n), alice, 90, 0), Ok(()));
        }
        assert_eq!(cache.insert_for(fingerprint(3), alice, 90, 0), Err(Reason::ReplayUserFull));
        // A replay is still a replay.
        assert_eq!(cache.insert_for(fingerprint(0), alice, 90, 0), Err(Reason::Replayed));
        for (n, user) in [(10, "bob"), (11, "carol"), (12, "dave")] {
            let owner = cache.owner(user.as_bytes(), b"example.com");
            assert_ne!(owner, alice);
            assert_eq!(cache.insert_for(fingerprint(n), owner, 90, 0), Ok(()), "{user}");
        }
        // The same name on another host is another user.
        let other_alice = cache.owner(b"alice", b"example.org");
        assert_eq!(cache.insert_for(fingerprint(20), other_alice, 90, 0), Ok(()));
        assert_eq!(cache.held_by(alice), 3);
        // Alice's share comes back as her entries expire.
        cache.purge(90);
        assert_eq!(cache.held_by(alice), 0);
        assert!(cache.owned.is_empty());
        assert_eq!(cache.insert_for(fingerprint(3), alice, 180, 90), Ok(()));
    }

    #[test]
    fn owners_differ_between_caches() {
        // A keyed hash: nobody can work out offline which names collide.
        let a = ReplayCache::new(1);
        let b = ReplayCache::new(1);
        assert_eq!(a.owner(b"alice", b"h"), a.owner(b"alice", b"h"));
        assert_ne!(a.owner(b"alice", b"h"), b.owner(b"alice", b"h"));
        assert_ne!(a.owner(b"alice", b"h"), Owner::NONE);
    }

    #[test]
    fn a_full_cache_of_expired_entries_has_room() {
        let mut cache = ReplayCache::new(100);
        for n in 0..100u64 {
            cache.insert(fingerprint(n), 60, 0).expect("room");
        }
        assert_eq!(cache.insert(fingerprint(1000), 120, 59), Err(Reason::ReplayCacheFull));
        assert_eq!(cache.insert(fingerprint(1000), 120, 60), Ok(()));
        assert_eq!(cache.len(), 100 - EXPIRY_BATCH + 1);
    }
}
