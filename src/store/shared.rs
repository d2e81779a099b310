//! One store per process for each store's settings: every verifier that
//! names the same Redis with the same options (every VirtualHost of a
//! Prosody, say) gets a handle on the same connection, the same claims
//! queue, the same retry interval and the same health. A Redis that is
//! away then costs the process one connection attempt per interval, not
//! one per host, and one socket to watch.

use core::fmt;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use super::policy::{Health, Store};
use super::Settings;
use crate::error::{ConfigError, Reason};

struct Entry {
    settings: Settings,
    id: u64,
    store: Weak<Mutex<Store>>,
}

/// The stores of this process, as long as a handle holds them.
static STORES: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
/// The last store id given out.
static LAST_ID: Mutex<u64> = Mutex::new(0);

/// A poisoned lock (a panic while it was held) still guards a consistent
/// enough store: the worst case is a claim refused.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A handle on the replay store shared through Redis: see the module
/// [`crate::store`]. Handles made with the same settings share one
/// connection and one state; the store goes with the last handle.
pub struct RedisStore {
    id: u64,
    store: Arc<Mutex<Store>>,
    // What this handle has reported of the store's outages (see
    // `outage_events`): each handle keeps its own, so that every host
    // sharing the store hears of each outage once.
    outages_reported: u64,
    down_reported: bool,
}

/// A change in a shared store's health, as one handle hears of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutageEvent {
    /// Redis stopped answering: every token is refused until it answers.
    Began {
        /// What went wrong, in words that hold no secret.
        error: String,
    },
    /// Redis answers again.
    Ended,
}

impl OutageEvent {
    /// How a log says it (Prosody at `error` for [`Self::Began`] and at
    /// `info` for [`Self::Ended`]; the extauth helper the same): one
    /// wording for every program that reports on the store.
    #[must_use]
    pub fn sentence(&self, host: &str) -> String {
        match self {
            OutageEvent::Began { error } => {
                format!("Replay store unavailable ({error}): token logins on {host} are refused until it answers again")
            }
            OutageEvent::Ended => format!("Replay store answers again: token logins on {host} work again"),
        }
    }

    /// Its name: `"began"` or `"ended"`.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            OutageEvent::Began { .. } => "began",
            OutageEvent::Ended => "ended",
        }
    }

    /// The log level that goes with it: `"error"` or `"info"`.
    #[must_use]
    pub fn level(&self) -> &'static str {
        match self {
            OutageEvent::Began { .. } => "error",
            OutageEvent::Ended => "info",
        }
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore").field("id", &self.id).field("store", &*lock(&self.store)).finish()
    }
}

impl RedisStore {
    /// [`Self::with`] the URL and the timeouts, no TLS options.
    ///
    /// # Errors
    /// As [`Self::with`].
    pub fn open(
        url: &[u8],
        connect_timeout_ms: Option<i64>,
        reply_timeout_ms: Option<i64>,
    ) -> Result<Self, ConfigError> {
        RedisStore::with(&Settings { url: url.to_vec(), connect_timeout_ms, reply_timeout_ms, ..Settings::default() })
    }

    /// Parses the settings and returns a handle on this process's store for
    /// them, made now if there is none. Does not connect: the first token
    /// does, so that a Redis down at start-up delays nothing.
    ///
    /// # Errors
    /// [`ConfigError`] naming `replay_store` (a URL the client does not
    /// accept; the message never shows it, since it may hold a password),
    /// `replay_store_connect_timeout`, `replay_store_timeout`,
    /// `replay_store_ca`, `replay_store_cert` or `replay_store_key`.
    pub fn with(settings: &Settings) -> Result<Self, ConfigError> {
        let mut stores = lock(&STORES);
        stores.retain(|entry| entry.store.strong_count() > 0);
        if let Some((id, store)) = stores
            .iter()
            .find(|entry| entry.settings == *settings)
            .and_then(|entry| Some((entry.id, entry.store.upgrade()?)))
        {
            // Outages over before this handle existed are not news to it;
            // one going on is.
            let health = lock(&store).health().clone();
            let outages_reported = health.outages.saturating_sub(u64::from(!health.available));
            return Ok(RedisStore { id, store, outages_reported, down_reported: false });
        }
        let store = Arc::new(Mutex::new(Store::open(settings)?));
        let id = {
            let mut last = lock(&LAST_ID);
            *last += 1;
            *last
        };
        stores.push(Entry { settings: settings.clone(), id, store: Arc::downgrade(&store) });
        Ok(RedisStore { id, store, outages_reported: 0, down_reported: false })
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    /// What changed in the store's health since this handle last asked: an
    /// outage begun (once per outage, with its cause), then its end once
    /// Redis answered again; both when it began and ended in between.
    pub fn outage_events(&mut self) -> Vec<OutageEvent> {
        let health = self.health();
        let mut events = Vec::new();
        if health.outages > self.outages_reported {
            if self.down_reported {
                // The outage reported ended, and another began, in between.
                events.push(OutageEvent::Ended);
            }
            self.outages_reported = health.outages;
            self.down_reported = true;
            events.push(OutageEvent::Began { error: health.last_error.unwrap_or_else(|| "no answer".to_owned()) });
        }
        if self.down_reported && health.available {
            self.down_reported = false;
            events.push(OutageEvent::Ended);
        }
        events
    }

    /// This store's number in the process: handles with the same number
    /// share the connection, the claims and the health.
    #[must_use]
    pub fn id(&self) -> u64 {
        self.id
    }

    /// How the store is doing.
    #[must_use]
    pub fn health(&self) -> Health {
        self.store().health().clone()
    }

    /// The connect and reply timeouts.
    #[must_use]
    pub fn timeouts(&self) -> (Duration, Duration) {
        self.store().timeouts()
    }

    /// Records `key` as used for `lifetime_ms` unless it already is, and
    /// (with a per-user bound) unless the user `user` ([`super::user_key`])
    /// already holds that many live tokens: one command, waited for (the
    /// connect, AUTH and SELECT too on a new connection, in the same write).
    ///
    /// # Errors
    /// [`Reason::Replayed`] if the key exists; [`Reason::ReplayUserFull`]
    /// at the user's bound;
    /// [`Reason::ReplayStoreUnavailable`] if Redis did not answer in time,
    /// refused the write (out of memory, read-only replica, wrong
    /// password...) or failed twice in a row within
    /// [`super::RETRY_INTERVAL`].
    pub fn claim(&mut self, key: &[u8], user: &[u8], lifetime_ms: u64) -> Result<(), Reason> {
        self.store().claim(key, user, lifetime_ms)
    }

    /// [`Self::claim`] without waiting: the verdict comes from
    /// [`Self::collect`] under the ticket returned. Tickets are unique
    /// within a store, whichever handle sent the claim.
    ///
    /// # Errors
    /// [`Reason::ReplayStoreUnavailable`] when it cannot even be sent.
    pub fn send_claim(&mut self, key: &[u8], user: &[u8], lifetime_ms: u64) -> Result<u64, Reason> {
        self.store().send_claim(key, user, lifetime_ms)
    }

    /// The verdicts of deferred claims that are in, of every handle on
    /// this store: the replies read so far, and a failure for every claim on
    /// a connection that broke or let a claim pass its deadline. Nothing
    /// here waits.
    pub fn collect(&mut self) -> Vec<(u64, Result<(), Reason>)> {
        self.store().collect()
    }

    /// The socket to watch (a descriptor number), the connection's serial
    /// number, and whether to watch for writability too; `None` without a
    /// connection.
    #[must_use]
    pub fn socket(&self) -> Option<(RawFd, u64, bool)> {
        self.store().socket().map(|(fd, serial, writable)| (fd.as_raw_fd(), serial, writable))
    }

    /// When [`Self::collect`] is next due; `None` when nothing waits.
    #[must_use]
    pub fn next_deadline(&self) -> Option<Instant> {
        self.store().next_deadline()
    }

    /// One `PING`: a bare round trip, for benchmarks and health checks.
    ///
    /// # Errors
    /// [`Reason::ReplayStoreUnavailable`] as for [`Self::claim`].
    pub fn ping(&mut self) -> Result<(), Reason> {
        self.store().ping()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_settings_share_one_store_and_other_settings_do_not() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
        let url = format!("redis://127.0.0.1:{port}");
        let mut one = RedisStore::open(url.as_bytes(), None, None).expect("valid");
        let two = RedisStore::open(url.as_bytes(), None, None).expect("valid");
        let other = RedisStore::open(url.as_bytes(), None, Some(30)).expect("valid");
        assert_eq!(one.id(), two.id());
        assert_ne!(one.id(), other.id());
        // Nobody listens: the failure one sees is the other's too.
        assert_eq!(one.claim(b"k", b"u", 1000), Err(Reason::ReplayStoreUnavailable));
        assert_eq!(two.health().refusals, 1);
        assert_eq!(other.health().refusals, 0);
        let id = one.id();
        drop((one, two));
        let again = RedisStore::open(url.as_bytes(), None, None).expect("valid");
        assert_ne!(again.id(), id, "the store went with its last handle");
        assert_eq!(again.health().refusals, 0);
    }

    #[test]
    fn every_handle_hears_of_an_outage_once() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
        let url = format!("redis://127.0.0.1:{port}");
        let mut one = RedisStore::open(url.as_bytes(), None, None).expect("valid");
        let mut two = RedisStore::open(url.as_bytes(), None, None).expect("valid");
        assert_eq!(one.outage_events(), []);
        assert_eq!(one.claim(b"k", b"u", 1000), Err(Reason::ReplayStoreUnavailable));
        assert_eq!(one.claim(b"k", b"u", 1000), Err(Reason::ReplayStoreUnavailable));
        let began = OutageEvent::Began { error: "connection refused".to_owned() };
        // Each host's handle hears it once, however many refusals.
        assert_eq!(one.outage_events(), core::slice::from_ref(&began));
        assert_eq!(one.outage_events(), []);
        assert_eq!(two.outage_events(), core::slice::from_ref(&began));
        // A handle made during the outage (a module reload) hears of it too.
        let mut three = RedisStore::open(url.as_bytes(), None, None).expect("valid");
        assert_eq!(three.outage_events(), core::slice::from_ref(&began));
        assert_eq!(
            began.sentence("example.com"),
            "Replay store unavailable (connection refused): token logins on example.com are refused until it \
             answers again"
        );
        assert_eq!(
            OutageEvent::Ended.sentence("example.com"),
            "Replay store answers again: token logins on example.com work again"
        );
        assert_eq!((began.level(), OutageEvent::Ended.level()), ("error", "info"));
        assert_eq!((began.name(), OutageEvent::Ended.name()), ("began", "ended"));
    }
}
