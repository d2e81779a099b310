//! The replay port: where a verifier remembers used tokens.
//!
//! A verifier checks a token and then hands what to remember it by (a
//! [`Claim`]) to its port, without knowing which one it has: the bounded
//! in-process cache ([`ReplayCache`], the default) or a Redis shared with
//! other processes ([`RedisStore`], `replay_store`). The port owns the
//! choice between them, the store options that only make sense together,
//! and how a claim becomes a cache entry or a Redis key.

mod cache;

pub use cache::{Fingerprint, FingerprintHasher, Owner, ReplayCache, EXPIRY_BATCH};

use crate::error::{ConfigError, Reason};
use crate::scheme::Options;
use crate::store::{self, RedisStore};

/// What a verified token is remembered by, and until when.
#[derive(Debug)]
pub(crate) struct Claim {
    pub(crate) fingerprint: Fingerprint,
    pub(crate) expires_at: u64,
    /// The distinctive part of the shared store's key.
    pub(crate) store_part: Vec<u8>,
}

impl Claim {
    /// A JWT is remembered by its `jti`, or its signature when it has none
    /// (`replay_id`), until it could no longer verify.
    pub(crate) fn of_jwt(verified: &crate::jwt::Verified) -> Claim {
        let mut store_part = b"jwt:".to_vec();
        store_part.extend_from_slice(data_encoding::HEXLOWER.encode(&verified.replay_id[..16]).as_bytes());
        Claim { fingerprint: Fingerprint::of(&verified.replay_id), expires_at: verified.dead_at, store_part }
    }
}

/// Whether [`Replay::record`] waits for a shared store's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Block (bounded by the store's timeouts) until Redis answers.
    Yes,
    /// Send the claim and return its ticket; the verdict comes from
    /// [`RedisStore::collect`].
    No,
}

/// Where a verifier remembers used tokens.
#[derive(Debug)]
pub enum Replay {
    /// The bounded in-process cache (the default).
    Local(ReplayCache),
    /// A Redis shared with other processes (`replay_store`). Boxed: it is
    /// several times the size of the cache's handle.
    Shared(Box<RedisStore>),
}

impl Replay {
    /// The port the replay options ask for. With `replay_store` the store
    /// is parsed, not yet connected.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first bad replay option, or a store option
    /// set without `replay_store`.
    pub fn new(options: &Options) -> Result<Replay, ConfigError> {
        let capacity = crate::options::REPLAY_CAPACITY.integer(options.replay_capacity)?;
        let per_user = crate::options::REPLAY_PER_USER.integer(options.replay_per_user)?;
        let Some(url) = &options.replay_store else {
            if options.replay_store_connect_timeout.is_some()
                || options.replay_store_timeout.is_some()
                || options.replay_store_ca.is_some()
                || options.replay_store_cert.is_some()
                || options.replay_store_key.is_some()
                || !options.replay_store_sentinels.is_empty()
                || options.replay_store_master.is_some()
                || options.replay_store_replicas.is_some()
            {
                return Err(ConfigError::conflict("replay_store", "is not set, so its other options mean nothing"));
            }
            return Ok(Replay::Local(ReplayCache::with_share(capacity, per_user)));
        };
        Ok(Replay::Shared(Box::new(RedisStore::with(&store::Settings {
            url: url.clone(),
            connect_timeout_ms: options.replay_store_connect_timeout,
            reply_timeout_ms: options.replay_store_timeout,
            ca: options.replay_store_ca.clone(),
            cert: options.replay_store_cert.clone(),
            key: options.replay_store_key.clone(),
            per_user: u64::try_from(per_user).ok(),
            sentinels: options.replay_store_sentinels.clone(),
            master: options.replay_store_master.clone(),
            replicas: options.replay_store_replicas,
        })?)))
    }

    /// Called before every check, refused or not: the in-process cache lets
    /// a batch of expired entries go, so that a stream of refused tokens
    /// still frees memory. Redis expires its keys itself.
    pub(crate) fn tick(&mut self, now: u64) {
        if let Replay::Local(cache) = self {
            cache.expire(now, EXPIRY_BATCH);
        }
    }

    /// Records `claim` for `username@host` (empty for a JWT that names
    /// nobody): in the in-process cache (`Ok(None)`), or in the shared
    /// store, waiting for its verdict (`Ok(None)`) or not
    /// (`Ok(Some(ticket))`).
    ///
    /// # Errors
    /// [`Reason::Replayed`], [`Reason::ReplayUserFull`],
    /// [`Reason::ReplayCacheFull`] or [`Reason::ReplayStoreUnavailable`].
    pub(crate) fn record(
        &mut self,
        claim: &Claim,
        username: &[u8],
        host: &[u8],
        now: u64,
        wait: Wait,
    ) -> Result<Option<u64>, Reason> {
        match self {
            Replay::Local(cache) => {
                let owner = if username.is_empty() { Owner::NONE } else { cache.owner(username, host) };
                cache.insert_for(claim.fingerprint, owner, claim.expires_at, now)?;
                Ok(None)
            }
            Replay::Shared(store) => {
                let key = store::key(host, username, &claim.store_part);
                let user = store::user_key(host, username);
                let lifetime = store::lifetime_ms(claim.expires_at, now);
                match wait {
                    Wait::Yes => store.claim(&key, &user, lifetime).map(|()| None),
                    Wait::No => store.send_claim(&key, &user, lifetime).map(Some),
                }
            }
        }
    }
}
