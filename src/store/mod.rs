//! The replay store shared through Redis (option `replay_store`).
//!
//! "First use wins" across every process that points at the same Redis:
//! one `SET <key> 1 NX PX <remaining lifetime>` per accepted token, so
//! several Prosody instances, every extauth helper of an ejabberd cluster
//! and a restarted server all see a token used once. Keys are scoped by
//! host and hold a hash, never the token (see [`key`]).
//!
//! Prosody has one thread, so the store does not make it wait: a claim
//! is sent ([`RedisStore::send_claim`]) and its reply taken when the socket
//! becomes readable ([`RedisStore::collect`]), the login paused meanwhile
//! while the server goes on serving everybody else. Where nothing else
//! could run (the extauth helper, one request at a time; a caller outside
//! Prosody's async runners), [`RedisStore::claim`] waits for the reply.
//! Both are bounded by tight connect and reply timeouts. One failure drops
//! the connection and the next token makes a new one (a single slow reply
//! costs the logins waiting on it); after two failures in a row the store
//! refuses at once, without touching the network, for [`RETRY_INTERVAL`]:
//! a Redis that is down, hung or black-holed costs at most one timeout per
//! interval, not one per login. It fails closed
//! ([`Reason::ReplayStoreUnavailable`]) and recovers by itself: the next
//! attempt after the interval connects again.
//!
//! The protocol is the `redis` crate's: URL parsing (`redis://`, password,
//! `/DB`, `redis+unix:`/`unix:` sockets), command encoding and reply
//! parsing. The socket is ours: the crate's sync connection offers no way
//! to send without waiting for the reply, and its async one needs an
//! executor, where Prosody has its own event loop to watch the socket.

mod policy;
mod protocol;
mod shared;
mod socket;
mod tls;

use core::fmt;
use std::io;
use std::time::Duration;

use data_encoding::HEXLOWER;
use sha2::{Digest, Sha256};

pub use policy::Health;

/// A store's options, as the verifier's options give them: what makes two
/// stores the same store in a process (see [`RedisStore::with`]).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// `replay_store`: `redis://`, `rediss://` (TLS) or `redis+unix://`.
    pub url: Vec<u8>,
    /// `replay_store_connect_timeout`, milliseconds.
    pub connect_timeout_ms: Option<i64>,
    /// `replay_store_timeout`, milliseconds.
    pub reply_timeout_ms: Option<i64>,
    /// `replay_store_ca`: a PEM file of the CA certificates to trust.
    pub ca: Option<Vec<u8>>,
    /// `replay_store_cert`: a PEM file, the client certificate (chain).
    pub cert: Option<Vec<u8>>,
    /// `replay_store_key`: a PEM file, the client certificate's key.
    pub key: Option<Vec<u8>>,
    /// `replay_per_user`: live tokens one user may hold in the store
    /// (checked in Redis, atomically with the claim); `None`: no bound.
    pub per_user: Option<u64>,
    /// `replay_store_sentinels`: `host:port` of Redis Sentinels to ask for
    /// the master (the URL then gives the password and database only).
    pub sentinels: Vec<Vec<u8>>,
    /// `replay_store_master`: the master's name in Sentinel.
    pub master: Option<Vec<u8>>,
    /// `replay_store_replicas`: replicas that must acknowledge each claim
    /// (`WAIT`) within the reply timeout.
    pub replicas: Option<i64>,
}

impl fmt::Debug for Settings {
    // The URL may hold a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings").finish_non_exhaustive()
    }
}
pub use shared::{OutageEvent, RedisStore};

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

/// The Redis key of a user's set of live tokens (for `replay_per_user`):
/// `token_auth:<host>:user:<32 hex digits>`, the digits being the first 128
/// bits of SHA-256 over the host and the username (length-prefixed): the
/// host shows, the username does not.
#[must_use]
pub fn user_key(host: &[u8], username: &[u8]) -> Vec<u8> {
    let mut hash = Sha256::new();
    hash.update(b"prosody-token-auth user key v1\0");
    for part in [host, username] {
        hash.update(u64::try_from(part.len()).unwrap_or(u64::MAX).to_be_bytes());
        hash.update(part);
    }
    let digest = hash.finalize();
    let mut key = Vec::with_capacity(KEY_PREFIX.len() + host.len() + 6 + 2 * KEY_HASH_BYTES);
    key.extend_from_slice(KEY_PREFIX);
    key.extend_from_slice(host);
    key.extend_from_slice(b":user:");
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

/// What went wrong, in words that hold no secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    TimedOut,
    Refused,
    Lost,
    /// Another error of the operating system, by its kind.
    Io(io::ErrorKind),
    /// An error reply: its code only (OOM, READONLY, NOAUTH, WRONGPASS,
    /// LOADING...), short upper-case words safe to show, and what an
    /// operator needs; the rest of the message is left out.
    Server(String),
    /// A reply the protocol does not allow here.
    Unexpected,
    /// Sentinel named no master (unknown name), or an address that is none.
    NoMaster,
    /// The server Sentinel named says it is not a master (`ROLE`).
    NotMaster,
    /// The server Sentinel named refused `ROLE` (its error code).
    RoleRefused(String),
    /// `WAIT` counted fewer replicas than `replay_store_replicas`.
    Replicas(i64, u32),
    /// TLS failed: rustls' own words (a certificate that does not verify,
    /// a handshake refused), which hold no secret.
    Tls(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::TimedOut => f.write_str("timed out"),
            Failure::Refused => f.write_str("connection refused"),
            Failure::Lost => f.write_str("connection lost"),
            Failure::Io(kind) => write!(f, "I/O error ({kind})"),
            Failure::Server(code) if code == "WRONGPASS" || code == "NOAUTH" => f.write_str("authentication failed"),
            Failure::Server(code) => write!(f, "server error {code}"),
            Failure::Unexpected => f.write_str("unexpected reply"),
            Failure::Tls(problem) => write!(f, "TLS: {problem}"),
            Failure::NoMaster => f.write_str("Sentinel named no master"),
            Failure::NotMaster => f.write_str("the server Sentinel named is not the master"),
            Failure::RoleRefused(code) => {
                write!(f, "ROLE refused ({code}): the store's Redis user needs +role to check the master")
            }
            Failure::Replicas(acked, wanted) => write!(f, "{acked} of {wanted} replicas acknowledged the claim"),
        }
    }
}

impl From<io::Error> for Failure {
    fn from(err: io::Error) -> Self {
        if let Some(tls) = err.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
            return Failure::Tls(tls.to_string());
        }
        match err.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Failure::TimedOut,
            io::ErrorKind::ConnectionRefused => Failure::Refused,
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::WriteZero
            | io::ErrorKind::NotConnected => Failure::Lost,
            kind => Failure::Io(kind),
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
}
