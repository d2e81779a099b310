//! The replay store shared through Redis (option `replay_store`).
//!
//! "First use wins" across every process that points at the same Redis:
//! one `SET <key> 1 NX PX <remaining lifetime>` per accepted token, so
//! several Prosody instances, every extauth helper of an ejabberd cluster
//! and a restarted server all see a token used once. Keys are scoped by
//! host and hold a hash, never the token (see [`key`]).
//!
//! The call blocks the caller (Prosody's one thread), so it is bounded by
//! tight connect and reply timeouts. One failure drops the connection and
//! the next token makes a new one (a single slow reply costs one login);
//! after two failures in a row the store refuses at once, without touching
//! the network, for [`RETRY_INTERVAL`]: a Redis that is down, hung or
//! black-holed costs at most one timeout per interval, not one per login.
//! It fails closed ([`Reason::ReplayStoreUnavailable`]) and recovers by
//! itself: the next attempt after the interval connects again.
//!
//! The client is the `redis` crate (sync API): URL parsing (`redis://`,
//! password, `/DB`, `redis+unix:`/`unix:` sockets), the handshake and the
//! protocol are its own.

use core::fmt;
use std::time::{Duration, Instant};

use data_encoding::HEXLOWER;
use redis::io::tcp::TcpSettings;
use redis::{Client, Connection, ErrorKind, IntoConnectionInfo, RedisError, Value};
use sha2::{Digest, Sha256};

use crate::error::{ConfigError, Reason};

/// Default connect timeout, milliseconds: a TCP handshake plus the
/// AUTH/SELECT exchange takes well under 1 ms on a local network; 50 ms is
/// tens of times that, yet a Redis that is gone costs Prosody at most
/// 50 ms per [`RETRY_INTERVAL`].
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 50;
/// Default reply timeout, milliseconds: a `SET` answers in tens of
/// microseconds on loopback and well under a millisecond on a LAN; 20 ms
/// leaves room for a fork or an fsync stall, and bounds how long one login
/// can hold Prosody's thread when Redis hangs.
pub const DEFAULT_REPLY_TIMEOUT_MS: u64 = 20;
/// Accepted timeouts, milliseconds.
pub const TIMEOUT_MS: core::ops::RangeInclusive<u64> = 1..=10_000;
/// After two failures in a row the store refuses without trying for this
/// long, then tries again on the next token: at most one timeout per
/// interval while Redis is away, and logins again within half a second of
/// its return.
pub const RETRY_INTERVAL: Duration = Duration::from_millis(500);
/// Every key starts with this, then the host and `:`.
pub const KEY_PREFIX: &[u8] = b"token_auth:";
/// Bytes of SHA-256 kept in a key (hex-encoded: twice as many characters).
const KEY_HASH_BYTES: usize = 16;

/// The Redis key of a token: `token_auth:<host>:<32 hex digits>`, the
/// digits being the first 128 bits of SHA-256 over the host, the username
/// and the token's OTP and nonce digits (length-prefixed, so no two
/// inputs run together). What the reference scheme calls one token (same
/// OTP, nonce and JID) is one key, whichever secret signed it. The key
/// shows the host, so an operator can count or flush one host's entries,
/// and nothing of the token: the nonce is 32 random digits, so the hash
/// cannot be turned back into them, and the signature is not in it.
#[must_use]
pub fn key(host: &[u8], username: &[u8], digits: &[u8]) -> Vec<u8> {
    let mut hash = Sha256::new();
    hash.update(b"prosody-token-auth replay key v1\0");
    for part in [host, username, digits] {
        hash.update(u64::try_from(part.len()).unwrap_or(u64::MAX).to_be_bytes());
        hash.update(part);
    }
    let digest = hash.finalize();
    let mut key = Vec::with_capacity(KEY_PREFIX.len() + host.len() + 1 + 2 * KEY_HASH_BYTES);
    key.extend_from_slice(KEY_PREFIX);
    key.extend_from_slice(host);
    key.push(b':');
    key.extend_from_slice(HEXLOWER.encode(&digest[..KEY_HASH_BYTES]).as_bytes());
    key
}

/// Milliseconds from `now` to `expires_at` (Unix seconds), for `PX`.
/// `now` is whole seconds, rounded down, so the key outlives the token by
/// up to a second, never the other way round. At least 1 (`PX 0` is an
/// error in Redis).
#[must_use]
pub fn lifetime_ms(expires_at: u64, now: u64) -> u64 {
    expires_at.saturating_sub(now).saturating_mul(1000).max(1)
}

/// How the store is doing, for logs and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Health {
    /// Whether the last attempt succeeded (true before the first one).
    pub available: bool,
    /// How many times it went from available to unavailable.
    pub outages: u64,
    /// Tokens refused because the store did not answer.
    pub refusals: u64,
    /// What went wrong last, in words that hold no secret
    /// ("connection refused", "timed out", "server error OOM", ...).
    pub last_error: Option<String>,
}

/// A connection to the Redis that holds the used tokens.
pub struct RedisStore {
    client: Client,
    connection: Option<Connection>,
    // Whether `connection` has carried a command: a failure on a reused
    // connection (Redis restarted, or closed it while idle) is retried
    // once on a fresh one before it counts.
    reused: bool,
    connect_timeout: Duration,
    reply_timeout: Duration,
    retry_after: Option<Instant>,
    failures_in_a_row: u32,
    health: Health,
}

impl fmt::Debug for RedisStore {
    // The connection info holds the password: show where, not how.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("address", &self.client.get_connection_info().addr().to_string())
            .field("connected", &self.connection.is_some())
            .field("health", &self.health)
            .finish_non_exhaustive()
    }
}

/// A failure, in words that hold no secret.
fn describe(err: &RedisError) -> String {
    if err.is_timeout() {
        return "timed out".into();
    }
    if err.is_connection_refusal() {
        return "connection refused".into();
    }
    if err.is_connection_dropped() {
        return "connection lost".into();
    }
    match err.kind() {
        ErrorKind::AuthenticationFailed => "authentication failed".into(),
        ErrorKind::Io => "I/O error".into(),
        _ => {
            // Server error codes are short upper-case words (OOM, READONLY,
            // NOAUTH, WRONGPASS, LOADING): safe to show, and what an
            // operator needs. Anything else is left out.
            let code = err.code().filter(|code| code.len() <= 20 && code.bytes().all(|b| b.is_ascii_uppercase()));
            match code {
                Some(code) => format!("server error {code}"),
                None => format!("error ({})", err.category()),
            }
        }
    }
}

fn millis(option: &'static str, value: Option<i64>, default: u64) -> Result<Duration, ConfigError> {
    let Some(value) = value else {
        return Ok(Duration::from_millis(default));
    };
    u64::try_from(value)
        .ok()
        .filter(|ms| TIMEOUT_MS.contains(ms))
        .map(Duration::from_millis)
        .ok_or_else(|| ConfigError::new(option, "must be an integer from 1 to 10000 (milliseconds)"))
}

impl RedisStore {
    /// Parses the URL and the timeouts. Does not connect: the first token
    /// does, so that a Redis down at start-up delays nothing.
    ///
    /// # Errors
    /// [`ConfigError`] naming `replay_store` (a URL the client does not
    /// accept; the message never shows it, since it may hold a password),
    /// `replay_store_connect_timeout` or `replay_store_timeout`.
    pub fn open(
        url: &[u8],
        connect_timeout_ms: Option<i64>,
        reply_timeout_ms: Option<i64>,
    ) -> Result<Self, ConfigError> {
        const SHAPE: &str = "must be redis://[:PASSWORD@]HOST[:PORT][/DB] or redis+unix:///PATH[?db=N&pass=PASSWORD]";
        let connect_timeout = millis("replay_store_connect_timeout", connect_timeout_ms, DEFAULT_CONNECT_TIMEOUT_MS)?;
        let reply_timeout = millis("replay_store_timeout", reply_timeout_ms, DEFAULT_REPLY_TIMEOUT_MS)?;
        let url = core::str::from_utf8(url).map_err(|_| ConfigError::new("replay_store", SHAPE))?;
        let info = url.into_connection_info().map_err(|_| ConfigError::new("replay_store", SHAPE))?;
        if !info.addr().is_supported() {
            return Err(ConfigError::new("replay_store", "uses TLS (rediss://), which this build does not offer"));
        }
        // One small request, one small answer: no reason to let Nagle wait.
        let info = info.set_tcp_settings(TcpSettings::default().set_nodelay(true));
        let client = Client::open(info).map_err(|_| ConfigError::new("replay_store", SHAPE))?;
        Ok(RedisStore {
            client,
            connection: None,
            reused: false,
            connect_timeout,
            reply_timeout,
            retry_after: None,
            failures_in_a_row: 0,
            health: Health { available: true, ..Health::default() },
        })
    }

    /// How the store is doing.
    #[must_use]
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// The connect and reply timeouts.
    #[must_use]
    pub fn timeouts(&self) -> (Duration, Duration) {
        (self.connect_timeout, self.reply_timeout)
    }

    fn connect(&mut self) -> Result<&mut Connection, RedisError> {
        if self.connection.is_none() {
            let connection = self.client.get_connection_with_timeout(self.connect_timeout)?;
            connection.set_read_timeout(Some(self.reply_timeout))?;
            connection.set_write_timeout(Some(self.reply_timeout))?;
            self.connection = Some(connection);
            self.reused = false;
        }
        // Just made or kept: never None here.
        self.connection.as_mut().ok_or_else(|| RedisError::from((ErrorKind::Client, "no connection")))
    }

    /// Runs one command, connecting first if needed. A dropped reused
    /// connection is re-made and the command sent once more; a timeout is
    /// not retried (it would double the time Prosody waits).
    fn request(&mut self, command: &redis::Cmd) -> Result<Value, String> {
        if let Some(when) = self.retry_after {
            if Instant::now() < when {
                return Err(self.health.last_error.clone().unwrap_or_default());
            }
        }
        let mut result = self.connect().and_then(|connection| command.query::<Value>(connection));
        if let Err(err) = &result {
            if self.reused && err.is_connection_dropped() {
                self.connection = None;
                result = self.connect().and_then(|connection| command.query::<Value>(connection));
            }
        }
        match result {
            Ok(value) => {
                self.reused = true;
                self.retry_after = None;
                self.failures_in_a_row = 0;
                Ok(value)
            }
            Err(err) => {
                self.connection = None;
                self.failures_in_a_row = self.failures_in_a_row.saturating_add(1);
                if self.failures_in_a_row >= 2 {
                    self.retry_after = Some(Instant::now() + RETRY_INTERVAL);
                }
                Err(describe(&err))
            }
        }
    }

    fn up(&mut self) {
        self.health.available = true;
    }

    fn down(&mut self, problem: String) -> Reason {
        if self.health.available {
            self.health.available = false;
            self.health.outages += 1;
        }
        self.health.refusals += 1;
        self.health.last_error = Some(problem);
        Reason::ReplayStoreUnavailable
    }

    /// Records `key` as used for `lifetime_ms` unless it already is: one
    /// `SET key 1 NX PX lifetime_ms`.
    ///
    /// # Errors
    /// [`Reason::Replayed`] if the key exists;
    /// [`Reason::ReplayStoreUnavailable`] if Redis did not answer in time,
    /// refused the write (out of memory, read-only replica, wrong
    /// password...) or failed twice in a row within [`RETRY_INTERVAL`].
    pub fn claim(&mut self, key: &[u8], lifetime_ms: u64) -> Result<(), Reason> {
        let mut command = redis::cmd("SET");
        command.arg(key).arg(1).arg("NX").arg("PX").arg(lifetime_ms);
        match self.request(&command) {
            Ok(Value::Okay) => {
                self.up();
                Ok(())
            }
            Ok(Value::Nil) => {
                self.up();
                Err(Reason::Replayed)
            }
            Ok(_) => {
                self.connection = None;
                Err(self.down("unexpected reply to SET".into()))
            }
            Err(problem) => Err(self.down(problem)),
        }
    }

    /// One `PING`: a bare round trip, for benchmarks and health checks.
    ///
    /// # Errors
    /// [`Reason::ReplayStoreUnavailable`] as for [`Self::claim`].
    pub fn ping(&mut self) -> Result<(), Reason> {
        match self.request(&redis::cmd("PING")) {
            Ok(_) => {
                self.up();
                Ok(())
            }
            Err(problem) => Err(self.down(problem)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_scoped_by_host_and_hold_no_token_text() {
        let digits = b"1234567801234567890123456789012345678901";
        let key = key(b"example.com", b"alice", digits);
        let text = String::from_utf8(key.clone()).expect("ascii");
        assert!(text.starts_with("token_auth:example.com:"), "{text}");
        let hash = &text["token_auth:example.com:".len()..];
        assert_eq!(hash.len(), 32);
        assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()));
        // No run of the token's digits survives into the key.
        assert!(!text.contains("12345678") && !text.contains("01234567"), "{text}");
        assert!(!text.contains("alice"));
    }

    #[test]
    fn keys_differ_for_every_part_and_are_stable() {
        let base = key(b"h", b"alice", b"0123");
        assert_eq!(base, key(b"h", b"alice", b"0123"));
        assert_ne!(base, key(b"h2", b"alice", b"0123"));
        assert_ne!(base, key(b"h", b"bob", b"0123"));
        assert_ne!(base, key(b"h", b"alice", b"0124"));
        // Length prefixes: moving a byte between parts changes the key.
        assert_ne!(key(b"h", b"ab", b"1"), key(b"h", b"a", b"b1"));
        // A pinned value: a change of derivation would orphan the keys
        // live in every deployment's Redis during an upgrade.
        assert_eq!(
            String::from_utf8(key(b"example.com", b"alice", b"12345678")).expect("ascii"),
            format!(
                "token_auth:example.com:{}",
                &HEXLOWER.encode(&{
                    let mut hash = Sha256::new();
                    hash.update(b"prosody-token-auth replay key v1\0");
                    for part in [&b"example.com"[..], b"alice", b"12345678"] {
                        hash.update((part.len() as u64).to_be_bytes());
                        hash.update(part);
                    }
                    hash.finalize()
                })[..32]
            )
        );
    }

    #[test]
    fn lifetimes_round_up_and_never_reach_zero() {
        assert_eq!(lifetime_ms(90, 0), 90_000);
        assert_eq!(lifetime_ms(90, 89), 1000);
        assert_eq!(lifetime_ms(90, 90), 1);
        assert_eq!(lifetime_ms(90, 1000), 1);
        assert_eq!(lifetime_ms(u64::MAX, 0), u64::MAX);
    }

    #[test]
    fn urls_and_timeouts_are_validated_without_showing_them() {
        for good in [
            "redis://127.0.0.1:6379",
            "redis://:pw@127.0.0.1:6379/2",
            "redis+unix:///run/redis.sock",
            "unix:///run/r.sock?db=1",
        ] {
            assert!(RedisStore::open(good.as_bytes(), None, None).is_ok(), "{good}");
        }
        for bad in ["http://x", "redis://", "nonsense", "rediss://:hunter2@host:6380"] {
            let err = RedisStore::open(bad.as_bytes(), None, None).expect_err(bad);
            assert_eq!(err.option(), "replay_store");
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
        assert!(RedisStore::open(b"\xff", None, None).is_err());
        for (connect, reply, option) in [
            (Some(0), None, "replay_store_connect_timeout"),
            (Some(10_001), None, "replay_store_connect_timeout"),
            (None, Some(-1), "replay_store_timeout"),
        ] {
            let err = RedisStore::open(b"redis://127.0.0.1", connect, reply).expect_err(option);
            assert_eq!(err.option(), option);
        }
        let store = RedisStore::open(b"redis://127.0.0.1", Some(5), Some(7)).expect("valid");
        assert_eq!(store.timeouts(), (Duration::from_millis(5), Duration::from_millis(7)));
        let shown = format!("{:?}", RedisStore::open(b"redis://:hunter2@127.0.0.1", None, None).expect("valid"));
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn a_store_nobody_listens_on_fails_closed_then_fast() {
        // A port on loopback with no listener: refused at once, no Redis
        // needed. Redis itself is tested in spec/redis (a real server).
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
        let mut store = RedisStore::open(format!("redis://127.0.0.1:{port}").as_bytes(), None, None).expect("valid");
        assert!(store.health().available);
        assert_eq!(store.claim(b"k", 1000), Err(Reason::ReplayStoreUnavailable));
        assert!(store.retry_after.is_none(), "one failure: the next token tries again");
        let health = store.health().clone();
        assert!(!health.available);
        assert_eq!((health.outages, health.refusals), (1, 1));
        assert_eq!(health.last_error.as_deref(), Some("connection refused"));
        // The second failure in a row starts the retry interval...
        assert_eq!(store.claim(b"k", 1000), Err(Reason::ReplayStoreUnavailable));
        assert!(store.retry_after.is_some());
        // ...within which it refuses without trying: same outage.
        let started = Instant::now();
        assert_eq!(store.claim(b"k", 1000), Err(Reason::ReplayStoreUnavailable));
        assert!(started.elapsed() < RETRY_INTERVAL);
        assert_eq!((store.health().outages, store.health().refusals), (1, 3));
    }
}
