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

use core::fmt;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use data_encoding::HEXLOWER;
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, Value};
use sha2::{Digest, Sha256};

use crate::error::{ConfigError, Reason};
use crate::poll;

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
/// Longest reply line read: every reply expected is a few dozen bytes.
const MAX_REPLY_LINE: usize = 4096;
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

/// What went wrong, in words that hold no secret.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Failure {
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
        }
    }
}

impl From<io::Error> for Failure {
    fn from(err: io::Error) -> Self {
        match err.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Failure::TimedOut,
            io::ErrorKind::ConnectionRefused => Failure::Refused,
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::NotConnected => Failure::Lost,
            kind => Failure::Io(kind),
        }
    }
}

fn server_error(value: &Value) -> Option<Failure> {
    let Value::ServerError(err) = value else {
        return None;
    };
    let code = err.code();
    let code = if code.len() <= 20 && !code.is_empty() && code.bytes().all(|b| b.is_ascii_uppercase()) {
        code
    } else {
        "(unnamed)"
    };
    Some(Failure::Server(code.to_owned()))
}

/// The socket, TCP or Unix, non-blocking once connected.
enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Socket {
    fn connect(addr: &ConnectionAddr, timeout: Duration) -> Result<Socket, Failure> {
        let socket = match addr {
            ConnectionAddr::Tcp(host, port) => {
                // An address literal resolves without a lookup; a name is
                // looked up by the system resolver, once per connection.
                let mut last = Failure::Refused;
                let mut found = None;
                for address in (host.as_str(), *port).to_socket_addrs()? {
                    match TcpStream::connect_timeout(&address, timeout) {
                        Ok(stream) => {
                            found = Some(stream);
                            break;
                        }
                        Err(err) => last = err.into(),
                    }
                }
                let stream = found.ok_or(last)?;
                // One small request, one small answer: no reason to let
                // Nagle wait.
                stream.set_nodelay(true)?;
                Socket::Tcp(stream)
            }
            ConnectionAddr::Unix(path) => {
                // std's UnixStream::connect cannot be bounded: a Redis that
                // stopped accepting, its backlog full, would hold the caller.
                // Non-blocking, such a connect fails at once instead.
                let socket = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)?;
                socket.connect_timeout(&socket2::SockAddr::unix(path)?, timeout)?;
                Socket::Unix(UnixStream::from(std::os::fd::OwnedFd::from(socket)))
            }
            // TLS is refused by `RedisStore::open`.
            _ => return Err(Failure::Io(io::ErrorKind::Unsupported)),
        };
        match &socket {
            Socket::Tcp(stream) => stream.set_nonblocking(true)?,
            Socket::Unix(stream) => stream.set_nonblocking(true)?,
        }
        Ok(socket)
    }

    fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Socket::Tcp(stream) => stream.as_fd(),
            Socket::Unix(stream) => stream.as_fd(),
        }
    }

    /// Waits up to `deadline` for the socket to become readable (or
    /// writable), as [`poll::ready`] does.
    fn wait(&self, writable: bool, deadline: Instant) -> Result<(), Failure> {
        let flags = if writable { rustix::event::PollFlags::OUT } else { rustix::event::PollFlags::IN };
        if poll::ready(self.fd(), flags, Some(deadline))? {
            Ok(())
        } else {
            Err(Failure::TimedOut)
        }
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(stream) => stream.read(buf),
            Socket::Unix(stream) => stream.read(buf),
        }
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(stream) => stream.write(buf),
            Socket::Unix(stream) => stream.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Replies read for deferred claims, by ticket.
type Answered = Vec<(u64, Result<Value, Failure>)>;

/// A claim sent and not yet answered.
struct Waiting {
    ticket: u64,
    deadline: Instant,
    // The command, to send once more if a reused connection turns out
    // to be dead.
    packed: Vec<u8>,
}

/// One connection: the socket, the bytes read and not yet taken, the
/// deferred claims waiting for their replies (Redis answers in order).
struct Link {
    socket: Socket,
    inbox: Vec<u8>,
    waiting: VecDeque<Waiting>,
    // Whether it has carried a command: a connection that fails before
    // its first reply is new, and retrying it would only fail again.
    reused: bool,
}

impl Link {
    /// Connects and, as the URL asks, authenticates and selects the
    /// database, all within `timeout`.
    fn open(info: &ConnectionInfo, timeout: Duration) -> Result<Link, Failure> {
        let deadline = Instant::now() + timeout;
        let socket = Socket::connect(info.addr(), timeout)?;
        let mut link = Link { socket, inbox: Vec::new(), waiting: VecDeque::new(), reused: false };
        let settings = info.redis_settings();
        if let Some(password) = settings.password() {
            let mut auth = redis::cmd("AUTH");
            if let Some(username) = settings.username() {
                auth.arg(username);
            }
            auth.arg(password);
            link.expect_ok(&auth.get_packed_command(), deadline)?;
        }
        if settings.db() != 0 {
            link.expect_ok(&redis::cmd("SELECT").arg(settings.db()).get_packed_command(), deadline)?;
        }
        // The handshake does not make it a connection that has worked.
        link.reused = false;
        Ok(link)
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.socket.fd()
    }

    fn expect_ok(&mut self, packed: &[u8], deadline: Instant) -> Result<(), Failure> {
        match self.call(packed, deadline, &mut Vec::new())? {
            Value::Okay => Ok(()),
            _ => Err(Failure::Unexpected),
        }
    }

    fn send(&mut self, packed: &[u8], deadline: Instant) -> Result<(), Failure> {
        let mut rest = packed;
        while !rest.is_empty() {
            match self.socket.write(rest) {
                Ok(0) => return Err(Failure::Lost),
                Ok(n) => rest = rest.get(n..).unwrap_or_default(),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => self.socket.wait(true, deadline)?,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err.into()),
            }
        }
        Ok(())
    }

    /// Reads what the socket holds, without waiting.
    fn fill(&mut self) -> Result<(), Failure> {
        let mut buffer = [0u8; 512];
        loop {
            match self.socket.read(&mut buffer) {
                Ok(0) => return Err(Failure::Lost),
                Ok(n) => self.inbox.extend_from_slice(buffer.get(..n).unwrap_or_default()),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err.into()),
            }
        }
    }

    /// The next complete reply, if the inbox holds one. Every command sent
    /// here (SET without GET, PING, AUTH, SELECT) is answered by one line
    /// (`+OK`, `$-1`, `-ERR ...`, `+PONG`), which the crate's parser reads;
    /// anything longer is a reply the protocol does not allow here.
    fn next_reply(&mut self) -> Option<Result<Value, Failure>> {
        let Some(end) = self.inbox.windows(2).position(|pair| pair == b"\r\n") else {
            // A reply here is a short line: this many bytes without its end
            // is not one, and the inbox must not grow without bound.
            return (self.inbox.len() > MAX_REPLY_LINE).then(|| {
                self.inbox.clear();
                Err(Failure::Unexpected)
            });
        };
        let end = end + 2;
        let line: Vec<u8> = self.inbox.drain(..end).collect();
        let reply = match line.first() {
            Some(b'+' | b'-' | b':') => redis::parse_redis_value(&line).map_err(|_| Failure::Unexpected),
            Some(b'$') if line.starts_with(b"$-1\r\n") => Ok(Value::Nil),
            _ => Err(Failure::Unexpected),
        };
        Some(reply.and_then(|value| server_error(&value).map_or(Ok(value), Err)))
    }

    /// Hands the complete replies in the inbox to the deferred claims
    /// waiting for them, oldest first, and returns the first reply that no
    /// claim waits for.
    fn hand_out(&mut self, answered: &mut Answered) -> Option<Result<Value, Failure>> {
        while let Some(reply) = self.next_reply() {
            match self.waiting.pop_front() {
                Some(claim) => answered.push((claim.ticket, reply)),
                None => return Some(reply),
            }
        }
        None
    }

    /// Sends one command and waits for its reply until `deadline`. The
    /// replies owed to deferred claims come first: they go to `answered`.
    fn call(&mut self, packed: &[u8], deadline: Instant, answered: &mut Answered) -> Result<Value, Failure> {
        self.send(packed, deadline)?;
        loop {
            if let Some(reply) = self.hand_out(answered) {
                self.reused = true;
                return reply;
            }
            self.socket.wait(false, deadline)?;
            self.fill()?;
        }
    }
}

/// A connection to the Redis that holds the used tokens.
pub struct RedisStore {
    info: ConnectionInfo,
    link: Option<Link>,
    connect_timeout: Duration,
    reply_timeout: Duration,
    retry_after: Option<Instant>,
    failures_in_a_row: u32,
    next_ticket: u64,
    // Connections made so far: tells a new connection from the old one
    // even when it got the same descriptor number.
    connections: u64,
    // Deferred claims answered (or failed) and not yet collected.
    settled: Vec<(u64, Result<(), Reason>)>,
    health: Health,
}

impl fmt::Debug for RedisStore {
    // The connection info holds the password: show where, not how.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("address", &self.info.addr().to_string())
            .field("connected", &self.link.is_some())
            .field("health", &self.health)
            .finish_non_exhaustive()
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

/// What a reply to `SET key 1 NX PX ms` means.
fn claim_result(reply: Result<Value, Failure>) -> Result<Result<(), Reason>, Failure> {
    match reply? {
        Value::Okay => Ok(Ok(())),
        Value::Nil => Ok(Err(Reason::Replayed)),
        _ => Err(Failure::Unexpected),
    }
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
        if matches!(info.addr(), ConnectionAddr::TcpTls { .. }) || !info.addr().is_supported() {
            return Err(ConfigError::new("replay_store", "uses TLS (rediss://), which this build does not offer"));
        }
        Ok(RedisStore {
            info,
            link: None,
            connect_timeout,
            reply_timeout,
            retry_after: None,
            failures_in_a_row: 0,
            next_ticket: 0,
            connections: 0,
            settled: Vec::new(),
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

    /// Records an outage (once until Redis answers again) and its cause.
    fn down(&mut self, failure: &Failure) {
        if self.health.available {
            self.health.available = false;
            self.health.outages += 1;
        }
        self.health.last_error = Some(failure.to_string());
    }

    /// One token refused because the store did not answer.
    fn refuse(&mut self) -> Reason {
        self.health.refusals += 1;
        Reason::ReplayStoreUnavailable
    }

    /// Refuses at once, without the network, within the retry interval
    /// after two failures in a row.
    fn resting(&mut self) -> Option<Reason> {
        let when = self.retry_after?;
        (Instant::now() < when).then(|| self.refuse())
    }

    /// The connection, made first if needed.
    fn link(&mut self) -> Result<&mut Link, Failure> {
        if self.link.is_none() {
            self.link = Some(Link::open(&self.info, self.connect_timeout)?);
            self.connections += 1;
        }
        self.link.as_mut().ok_or(Failure::Lost)
    }

    /// Drops the connection after `failure`: its state is unknown (a late
    /// reply may still come). The deferred claims waiting on it fail.
    fn broken(&mut self, failure: &Failure) {
        let waiting = self.link.take().map(|link| link.waiting).unwrap_or_default();
        self.fail_claims(waiting, failure);
    }

    fn fail_claims(&mut self, waiting: VecDeque<Waiting>, failure: &Failure) {
        self.failures_in_a_row = self.failures_in_a_row.saturating_add(1);
        if self.failures_in_a_row >= 2 {
            self.retry_after = Some(Instant::now() + RETRY_INTERVAL);
        }
        self.down(failure);
        for claim in waiting {
            let reason = self.refuse();
            self.settled.push((claim.ticket, Err(reason)));
        }
    }

    /// [`Self::broken`], and the token at hand refused.
    fn fail(&mut self, failure: &Failure) -> Reason {
        self.broken(failure);
        self.refuse()
    }

    /// Redis answered: the outage, if any, is over.
    fn answered(&mut self) {
        self.retry_after = None;
        self.failures_in_a_row = 0;
        self.health.available = true;
    }

    /// Delivers replies that came for deferred claims.
    ///
    /// Every ticket gets its verdict here: an error reply (OOM, READONLY,
    /// MISCONF...) refuses its own claim only, as each reply is one line and
    /// the ones after it still belong to their claims; a reply no `SET`
    /// gives means the replies are out of step, and refuses every claim
    /// from there on. Returns the first failure, for the caller to drop the
    /// connection.
    fn settle(&mut self, answered: Answered) -> Result<(), Failure> {
        let mut first_failure = None;
        for (ticket, reply) in answered {
            let result = match (&first_failure, claim_result(reply)) {
                (Some(Failure::Unexpected), _) => Err(self.refuse()),
                (_, Ok(result)) => {
                    self.answered();
                    result
                }
                (_, Err(failure)) => {
                    first_failure.get_or_insert(failure);
                    Err(self.refuse())
                }
            };
            self.settled.push((ticket, result));
        }
        first_failure.map_or(Ok(()), Err)
    }

    /// One command on the connection (made first if needed), its reply
    /// waited for up to the reply timeout. A reused connection found dead
    /// (Redis restarted, or closed it while idle) is made again and the
    /// command sent once more; a timeout is not retried (it would double
    /// the time the caller waits).
    fn call(&mut self, packed: &[u8], answered: &mut Answered) -> Result<Value, Failure> {
        let reply_timeout = self.reply_timeout;
        let link = self.link()?;
        // The reply timeout starts once connected: connecting has its own.
        let reused = link.reused && link.waiting.is_empty();
        match link.call(packed, Instant::now() + reply_timeout, answered) {
            Err(Failure::Lost) if reused => {
                self.link = None;
                self.link()?.call(packed, Instant::now() + reply_timeout, answered)
            }
            result => result,
        }
    }

    /// One command, waited for, with the bookkeeping of health.
    fn request(&mut self, command: &redis::Cmd) -> Result<Value, Reason> {
        if let Some(reason) = self.resting() {
            return Err(reason);
        }
        let mut answered = Vec::new();
        let result = self.call(&command.get_packed_command(), &mut answered);
        match (result, self.settle(answered)) {
            (Ok(value), Ok(())) => {
                self.answered();
                Ok(value)
            }
            (Err(failure), _) | (Ok(_), Err(failure @ Failure::Unexpected)) => Err(self.fail(&failure)),
            // An error reply to an earlier claim: this reply is still ours,
            // and the connection goes.
            (Ok(value), Err(failure)) => {
                self.broken(&failure);
                Ok(value)
            }
        }
    }

    /// Records `key` as used for `lifetime_ms` unless it already is: one
    /// `SET key 1 NX PX lifetime_ms`, waited for.
    ///
    /// # Errors
    /// [`Reason::Replayed`] if the key exists;
    /// [`Reason::ReplayStoreUnavailable`] if Redis did not answer in time,
    /// refused the write (out of memory, read-only replica, wrong
    /// password...) or failed twice in a row within [`RETRY_INTERVAL`].
    pub fn claim(&mut self, key: &[u8], lifetime_ms: u64) -> Result<(), Reason> {
        let reply = self.request(&claim_command(key, lifetime_ms))?;
        match claim_result(Ok(reply)) {
            Ok(result) => result,
            Err(failure) => Err(self.fail(&failure)),
        }
    }

    /// [`Self::claim`] without waiting: sends the `SET` and returns a
    /// ticket; the reply is taken by [`Self::collect`] once the socket
    /// ([`Self::socket`]) is readable, or the claim fails there when
    /// [`Self::next_deadline`] has passed. For a server that has other
    /// work while Redis answers.
    ///
    /// # Errors
    /// [`Reason::ReplayStoreUnavailable`] when it cannot even be sent.
    pub fn send_claim(&mut self, key: &[u8], lifetime_ms: u64) -> Result<u64, Reason> {
        if let Some(reason) = self.resting() {
            return Err(reason);
        }
        let packed = claim_command(key, lifetime_ms).get_packed_command();
        let reply_timeout = self.reply_timeout;
        let mut deadline = Instant::now();
        // The reply timeout starts once connected: connecting has its own.
        let sent = self.link().and_then(|link| {
            deadline = Instant::now() + reply_timeout;
            link.send(&packed, deadline)
        });
        if let Err(failure) = sent {
            return Err(self.fail(&failure));
        }
        self.next_ticket += 1;
        let ticket = self.next_ticket;
        if let Some(link) = self.link.as_mut() {
            link.waiting.push_back(Waiting { ticket, deadline, packed });
        }
        Ok(ticket)
    }

    /// The results of deferred claims that are in: the replies read so
    /// far without waiting, and a failure for every claim on a connection
    /// that broke or let a claim pass its deadline. A reused connection
    /// found closed is made again and its claims sent once more (a claim
    /// that Redis had applied before closing then reads as a replay:
    /// refused, never accepted twice).
    pub fn collect(&mut self) -> Vec<(u64, Result<(), Reason>)> {
        if let Some(link) = self.link.as_mut() {
            let mut answered = Vec::new();
            let mut read = link.fill();
            if link.hand_out(&mut answered).is_some() {
                read = Err(Failure::Unexpected); // a reply nobody asked for
            }
            let closed = matches!(read, Err(Failure::Lost));
            let idle = link.waiting.is_empty();
            let resend = closed && link.reused && answered.is_empty();
            if !answered.is_empty() {
                link.reused = true;
            }
            let overdue = link.waiting.front().is_some_and(|claim| Instant::now() >= claim.deadline);
            if let Err(failure) = self.settle(answered) {
                self.broken(&failure);
            } else if closed && idle {
                // Closed with nothing waiting (Redis restarted, or dropped
                // an idle client): the next claim connects again.
                self.link = None;
            } else if resend {
                self.resend();
            } else if let Err(failure) = read {
                self.broken(&failure);
            } else if overdue {
                self.broken(&Failure::TimedOut);
            }
        }
        core::mem::take(&mut self.settled)
    }

    /// Sends the claims of a dead reused connection once more, on a new one.
    fn resend(&mut self) {
        let waiting = self.link.take().map(|link| link.waiting).unwrap_or_default();
        let sent =
            self.link().and_then(|link| waiting.iter().try_for_each(|claim| link.send(&claim.packed, claim.deadline)));
        if let Err(failure) = sent {
            self.link = None;
            return self.fail_claims(waiting, &failure);
        }
        if let Some(link) = self.link.as_mut() {
            link.waiting = waiting;
        }
    }

    /// The socket the deferred claims' replies come on, to watch for
    /// readability, and the connection's serial number (a new connection
    /// may get the old one's descriptor number); `None` without a
    /// connection.
    #[must_use]
    pub fn socket(&self) -> Option<(BorrowedFd<'_>, u64)> {
        self.link.as_ref().map(|link| (link.fd(), self.connections))
    }

    /// When [`Self::collect`] is next due: now if verdicts are already in,
    /// else when the oldest deferred claim times out; `None` when nothing
    /// waits.
    #[must_use]
    pub fn next_deadline(&self) -> Option<Instant> {
        if !self.settled.is_empty() {
            // Verdicts read while doing something else (a waiting call, a
            // failed send): due now, so that they are collected.
            return Some(Instant::now());
        }
        self.link.as_ref().and_then(|link| link.waiting.front()).map(|claim| claim.deadline)
    }

    /// One `PING`: a bare round trip, for benchmarks and health checks.
    ///
    /// # Errors
    /// [`Reason::ReplayStoreUnavailable`] as for [`Self::claim`].
    pub fn ping(&mut self) -> Result<(), Reason> {
        self.request(&redis::cmd("PING")).map(|_| ())
    }
}

fn claim_command(key: &[u8], lifetime_ms: u64) -> redis::Cmd {
    let mut command = redis::cmd("SET");
    command.arg(key).arg(1).arg("NX").arg("PX").arg(lifetime_ms);
    command
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

    /// A link over one end of a socket pair; the test plays Redis on the other.
    fn paired_link() -> (Link, UnixStream) {
        let (ours, theirs) = UnixStream::pair().expect("socket pair");
        ours.set_nonblocking(true).expect("non-blocking");
        (Link { socket: Socket::Unix(ours), inbox: Vec::new(), waiting: VecDeque::new(), reused: false }, theirs)
    }

    #[test]
    fn replies_are_taken_whole_in_order_however_they_arrive() {
        let (mut link, mut redis) = paired_link();
        assert!(link.next_reply().is_none());
        // Two replies and half of a third in one read, the rest later.
        redis.write_all(b"+OK\r\n$-1\r\n-OOM command not allo").expect("write");
        link.fill().expect("fill");
        assert_eq!(link.next_reply(), Some(Ok(Value::Okay)));
        assert_eq!(link.next_reply(), Some(Ok(Value::Nil)));
        assert!(link.next_reply().is_none(), "an incomplete line is no reply yet");
        redis.write_all(b"wed\r\n-bad code here\r\n:1\r\n").expect("write");
        link.fill().expect("fill");
        assert_eq!(link.next_reply(), Some(Err(Failure::Server("OOM".into()))));
        // An error code that is not a short upper-case word is not shown.
        assert_eq!(link.next_reply(), Some(Err(Failure::Server("(unnamed)".into()))));
        assert_eq!(link.next_reply(), Some(Ok(Value::Int(1))));
        assert_eq!(Failure::Server("OOM".into()).to_string(), "server error OOM");
        assert_eq!(Failure::Server("WRONGPASS".into()).to_string(), "authentication failed");
    }

    #[test]
    fn replies_no_command_here_gets_are_refused_not_misread() {
        for reply in [&b"$5\r\nhello\r\n"[..], b"*1\r\n:1\r\n", b"?\r\n", b"_\r\n"] {
            let (mut link, mut redis) = paired_link();
            redis.write_all(reply).expect("write");
            link.fill().expect("fill");
            assert_eq!(link.next_reply(), Some(Err(Failure::Unexpected)), "{reply:?}");
        }
    }

    #[test]
    fn a_reply_line_without_end_is_refused_once_too_long_to_be_one() {
        let (mut link, mut redis) = paired_link();
        redis.write_all(&[b'+'; MAX_REPLY_LINE]).expect("write");
        link.fill().expect("fill");
        assert!(link.next_reply().is_none(), "still short enough to be a reply in the making");
        redis.write_all(b"++").expect("write");
        link.fill().expect("fill");
        assert_eq!(link.next_reply(), Some(Err(Failure::Unexpected)));
        assert!(link.inbox.is_empty());
    }

    #[test]
    fn a_waiting_call_hands_earlier_replies_to_their_tickets() {
        let (mut link, mut redis) = paired_link();
        for ticket in [7, 8] {
            link.waiting.push_back(Waiting { ticket, deadline: Instant::now(), packed: Vec::new() });
        }
        redis.write_all(b"+OK\r\n$-1\r\n+PONG\r\n").expect("write");
        let mut answered = Vec::new();
        let reply = link.call(b"PING\r\n", Instant::now() + Duration::from_secs(5), &mut answered);
        assert_eq!(reply, Ok(Value::SimpleString("PONG".into())));
        assert_eq!(answered, vec![(7, Ok(Value::Okay)), (8, Ok(Value::Nil))]);
        let mut sent = [0u8; 6];
        redis.read_exact(&mut sent).expect("read");
        assert_eq!(&sent, b"PING\r\n");
        assert!(link.waiting.is_empty() && link.reused);
    }

    #[test]
    fn a_silent_or_closed_peer_is_a_timeout_or_a_lost_connection() {
        let (mut link, redis) = paired_link();
        let started = Instant::now();
        let reply = link.call(b"PING\r\n", started + Duration::from_millis(30), &mut Vec::new());
        assert_eq!(reply, Err(Failure::TimedOut));
        assert!(started.elapsed() >= Duration::from_millis(30));
        drop(redis);
        assert_eq!(link.fill(), Err(Failure::Lost));
    }

    /// A store already connected, over a socket pair; the test plays Redis.
    fn paired_store() -> (RedisStore, UnixStream) {
        let mut store = RedisStore::open(b"redis://127.0.0.1:1", None, Some(2000)).expect("valid");
        let (link, redis) = paired_link();
        store.link = Some(link);
        store.connections = 1;
        (store, redis)
    }

    fn collect_all(store: &mut RedisStore, count: usize) -> Vec<(u64, Result<(), Reason>)> {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut results = Vec::new();
        while results.len() < count && Instant::now() < deadline {
            results.extend(store.collect());
            std::thread::sleep(Duration::from_millis(1));
        }
        results.sort_by_key(|(ticket, _)| *ticket);
        results
    }

    #[test]
    fn an_error_reply_refuses_its_own_claim_and_every_other_gets_its_verdict() {
        let (mut store, mut redis) = paired_store();
        let tickets: Vec<u64> = (0..4).map(|_| store.send_claim(b"k", 1000).expect("sent")).collect();
        redis.write_all(b"+OK\r\n-READONLY You can't write against a read only replica.\r\n$-1\r\n").expect("write");
        let results = collect_all(&mut store, 4);
        assert_eq!(
            results,
            vec![
                (tickets[0], Ok(())),
                (tickets[1], Err(Reason::ReplayStoreUnavailable)),
                (tickets[2], Err(Reason::Replayed)),
                // Still waiting when the connection was dropped for the error.
                (tickets[3], Err(Reason::ReplayStoreUnavailable)),
            ]
        );
        assert_eq!(store.health().last_error.as_deref(), Some("server error READONLY"));
        assert!(store.next_deadline().is_none(), "nothing left waiting");
    }

    #[test]
    fn replies_out_of_step_refuse_every_claim_from_there_on() {
        let (mut store, mut redis) = paired_store();
        let tickets: Vec<u64> = (0..3).map(|_| store.send_claim(b"k", 1000).expect("sent")).collect();
        redis.write_all(b"+OK\r\n+PONG\r\n+OK\r\n").expect("write");
        let results = collect_all(&mut store, 3);
        assert_eq!(results[0], (tickets[0], Ok(())));
        assert_eq!(results[1], (tickets[1], Err(Reason::ReplayStoreUnavailable)));
        assert_eq!(results[2], (tickets[2], Err(Reason::ReplayStoreUnavailable)));
    }

    #[test]
    fn a_waiting_call_leaves_the_deferred_verdicts_it_read_due_at_once() {
        let (mut store, mut redis) = paired_store();
        let ticket = store.send_claim(b"k", 1000).expect("sent");
        redis.write_all(b"-OOM command not allowed\r\n+PONG\r\n").expect("write");
        assert_eq!(store.ping(), Ok(()), "its own reply still answers it");
        assert!(store.next_deadline().is_some_and(|due| due <= Instant::now()), "due now");
        assert_eq!(store.collect(), vec![(ticket, Err(Reason::ReplayStoreUnavailable))]);
        assert!(store.next_deadline().is_none());
    }

    #[test]
    fn a_unix_socket_redis_that_stopped_accepting_does_not_hold_the_caller() {
        let dir = std::env::temp_dir().join(format!("token-auth-store-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("redis.sock");
        let _ = std::fs::remove_file(&path);
        let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        // Fill its backlog: it never accepts, as a hung Redis would not.
        let mut held = Vec::new();
        for _ in 0..10_000 {
            let socket = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None).expect("socket");
            socket.set_nonblocking(true).expect("non-blocking");
            if socket.connect(&socket2::SockAddr::unix(&path).expect("address")).is_err() {
                break;
            }
            held.push(socket);
        }
        let url = format!("redis+unix://{}", path.display());
        let mut store = RedisStore::open(url.as_bytes(), Some(200), Some(200)).expect("valid");
        let started = Instant::now();
        assert_eq!(store.claim(b"k", 1000), Err(Reason::ReplayStoreUnavailable));
        assert!(started.elapsed() < Duration::from_secs(2), "held {:?}", started.elapsed());
        drop((held, listener));
        let _ = std::fs::remove_dir_all(&dir);
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
        // ...within which it refuses without trying, even once something
        // listens there again: no connection reaches the listener.
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("the same port");
        listener.set_nonblocking(true).expect("non-blocking");
        assert_eq!(store.claim(b"k", 1000), Err(Reason::ReplayStoreUnavailable));
        assert_eq!(store.send_claim(b"k", 1000), Err(Reason::ReplayStoreUnavailable));
        assert!(listener.accept().is_err_and(|err| err.kind() == io::ErrorKind::WouldBlock));
        assert_eq!((store.health().outages, store.health().refusals), (1, 4));
    }
}
