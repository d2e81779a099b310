//! The policy layer: one store as the verifier sees it. Claims waited for
//! or deferred, timeouts, what a failure does to the connection and to the
//! claims on it, the retry interval, and the health kept for logs.

use core::fmt;
use std::collections::VecDeque;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, Value};

use super::protocol::{claim_command, wait_command, Answered, Awaits, Discovery, Link, Waiting};
use super::tls::{self, Tls};
use super::Settings;
use super::{Failure, RETRY_INTERVAL};
use crate::error::{ConfigError, Reason};
use crate::options::OptionSpec;

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

/// The connection to the Redis that holds the used tokens, and what is
/// known about it: one per store settings per process ([`super::RedisStore`]
/// is a handle on it).
pub(super) struct Store {
    info: ConnectionInfo,
    tls: Option<Tls>,
    per_user: Option<u64>,
    // Sentinels to ask for the master (empty: the URL's address is it),
    // the master's name, and the one to ask next.
    sentinels: Vec<Sentinel>,
    master_name: String,
    next_sentinel: usize,
    // Replicas that must acknowledge a claim, and the claims accepted by
    // the master whose acknowledgement has not come yet.
    replicas: u32,
    unacked: Vec<u64>,
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

impl fmt::Debug for Store {
    // The connection info holds the password: show where, not how.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("address", &self.info.addr().to_string())
            .field("tls", &self.tls.is_some())
            .field("connected", &self.link.is_some())
            .field("health", &self.health)
            .finish_non_exhaustive()
    }
}

fn millis(spec: &OptionSpec, value: Option<i64>) -> Result<Duration, ConfigError> {
    spec.integer(value).map(Duration::from_millis)
}

/// A sentinel to ask for the master: where, with what password (AUTH
/// before asking), and TLS or not.
struct Sentinel {
    info: ConnectionInfo,
    tls: Option<Tls>,
}

/// Where a TLS option comes from: the files the store's TLS options name.
struct TlsFiles<'a> {
    ca: Option<&'a [u8]>,
    cert: Option<&'a [u8]>,
    key: Option<&'a [u8]>,
}

impl TlsFiles<'_> {
    fn any(&self) -> bool {
        self.ca.is_some() || self.cert.is_some() || self.key.is_some()
    }

    /// The configuration for `host`: `known`'s for another host when there
    /// is one (the PEM files are read once), else made from the files.
    fn for_host(&self, known: &mut Option<Tls>, host: &str) -> Result<Tls, ConfigError> {
        match known {
            Some(tls) => tls.for_host(host),
            None => {
                let tls = tls::configure(host, self.ca, self.cert, self.key)?;
                *known = Some(tls.clone());
                Ok(tls)
            }
        }
    }
}

/// The sentinels and the master's name. A sentinel is `HOST:PORT`, or a
/// URL of the same address, `redis://` or `rediss://` (TLS, with the
/// store's TLS options), that may give a user and password for AUTH.
fn sentinels(
    settings: &Settings,
    files: &TlsFiles<'_>,
    known_tls: &mut Option<Tls>,
) -> Result<(Vec<Sentinel>, String), ConfigError> {
    const SHAPE: &str = "must be a list of \"HOST:PORT\" (IP addresses or host names), or of \
        redis://[[USER]:PASSWORD@]HOST:PORT or rediss://... (TLS)";
    let master = settings.master.as_deref().map(core::str::from_utf8);
    match (settings.sentinels.is_empty(), master) {
        (true, None) => return Ok((Vec::new(), String::new())),
        (true, Some(_)) => {
            return Err(ConfigError::conflict("replay_store_master", "is set, but replay_store_sentinels is not"));
        }
        (false, None) => {
            return Err(ConfigError::conflict(
                "replay_store_master",
                "must name the master when replay_store_sentinels is set",
            ));
        }
        (false, Some(Err(_))) => return Err(ConfigError::invalid("replay_store_master", "must be UTF-8")),
        (false, Some(Ok(name))) if name.is_empty() || name.len() > 128 || name.contains(char::is_whitespace) => {
            return Err(ConfigError::invalid(
                "replay_store_master",
                "must be a name of 1 to 128 characters without spaces",
            ));
        }
        (false, Some(Ok(_))) => {}
    }
    let mut found = Vec::new();
    for sentinel in &settings.sentinels {
        let text = core::str::from_utf8(sentinel).map_err(|_| ConfigError::invalid("replay_store_sentinels", SHAPE))?;
        let (rest, secure, credentials) = match (text.strip_prefix("redis://"), text.strip_prefix("rediss://")) {
            (Some(rest), _) => (rest, false, true),
            (_, Some(rest)) => (rest, true, true),
            (None, None) => (text, false, false),
        };
        // The address: after the credentials, if any (a password may hold
        // any character, percent-encoded or not); a port, no database,
        // query or fragment.
        let address = if credentials { rest.rsplit_once('@').map_or(rest, |(_, address)| address) } else { rest };
        if address.contains(['/', '@', '?', '#']) || !address.contains(':') || (!credentials && rest.contains('@')) {
            return Err(ConfigError::invalid("replay_store_sentinels", SHAPE));
        }
        let info = format!("redis://{rest}")
            .as_str()
            .into_connection_info()
            .map_err(|_| ConfigError::invalid("replay_store_sentinels", SHAPE))?;
        let tls = match (secure, info.addr()) {
            (false, _) => None,
            (true, ConnectionAddr::Tcp(host, _)) => Some(files.for_host(known_tls, host).map_err(|err| {
                if err.option() == "replay_store" {
                    ConfigError::invalid("replay_store_sentinels", SHAPE)
                } else {
                    err
                }
            })?),
            (true, _) => return Err(ConfigError::invalid("replay_store_sentinels", SHAPE)),
        };
        found.push(Sentinel { info, tls });
    }
    let name = master.and_then(Result::ok).unwrap_or_default().to_owned();
    Ok((found, name))
}

/// What a reply to a claim (`SET key 1 NX PX ms`, or the claim script) means.
fn claim_result(reply: Result<Value, Failure>) -> Result<Result<(), Reason>, Failure> {
    match reply? {
        Value::Okay | Value::Int(1) => Ok(Ok(())),
        Value::Nil | Value::Int(0) => Ok(Err(Reason::Replayed)),
        Value::Int(-1) => Ok(Err(Reason::ReplayUserFull)),
        _ => Err(Failure::Unexpected),
    }
}

impl Store {
    /// Parses the URL, the timeouts and the TLS options (reading the PEM
    /// files now). Does not connect: the first token does, so that a Redis
    /// down at start-up delays nothing.
    ///
    /// # Errors
    /// [`ConfigError`] naming `replay_store` (a URL the client does not
    /// accept; the message never shows it, since it may hold a password),
    /// `replay_store_connect_timeout`, `replay_store_timeout`, or a TLS
    /// option (see [`super::tls`]).
    pub fn open(settings: &Settings) -> Result<Self, ConfigError> {
        const SHAPE: &str = "must be redis://[:PASSWORD@]HOST[:PORT][/DB], rediss://... (TLS) \
            or redis+unix:///PATH[?db=N&pass=PASSWORD]";
        let connect_timeout = millis(&crate::options::REPLAY_STORE_CONNECT_TIMEOUT, settings.connect_timeout_ms)?;
        let reply_timeout = millis(&crate::options::REPLAY_STORE_TIMEOUT, settings.reply_timeout_ms)?;
        let url = core::str::from_utf8(&settings.url).map_err(|_| ConfigError::invalid("replay_store", SHAPE))?;
        // TLS is ours (the crate's would bring its own connection): the URL
        // is read as redis:// and the connection made with rustls.
        let (url, secure) = match url.strip_prefix("rediss://") {
            Some(rest) if rest.contains('#') => {
                return Err(ConfigError::invalid(
                    "replay_store",
                    "must not have a #fragment (#insecure is not offered)",
                ));
            }
            Some(rest) => (format!("redis://{rest}"), true),
            None => (url.to_owned(), false),
        };
        let info = url.as_str().into_connection_info().map_err(|_| ConfigError::invalid("replay_store", SHAPE))?;
        if matches!(info.addr(), ConnectionAddr::TcpTls { .. }) || !info.addr().is_supported() {
            return Err(ConfigError::invalid("replay_store", SHAPE));
        }
        let files =
            TlsFiles { ca: settings.ca.as_deref(), cert: settings.cert.as_deref(), key: settings.key.as_deref() };
        let tls = match (secure, info.addr()) {
            (true, ConnectionAddr::Tcp(host, _)) => Some(tls::configure(host, files.ca, files.cert, files.key)?),
            _ => None,
        };
        let mut known_tls = tls.clone();
        let (sentinels, master_name) = sentinels(settings, &files, &mut known_tls)?;
        if files.any() && known_tls.is_none() {
            return Err(ConfigError::conflict(
                if files.ca.is_some() { "replay_store_ca" } else { "replay_store_cert" },
                if sentinels.is_empty() {
                    "is set, but replay_store is not a rediss:// URL"
                } else {
                    "is set, but neither replay_store nor a sentinel is a rediss:// URL"
                },
            ));
        }
        let replicas = crate::options::REPLAY_STORE_REPLICAS.integer(settings.replicas)?;
        Ok(Store {
            info,
            tls,
            per_user: settings.per_user,
            sentinels,
            master_name,
            next_sentinel: 0,
            replicas,
            unacked: Vec::new(),
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

    /// The connection, started first if needed: the connect, AUTH and
    /// SELECT run while the caller goes on, due by the connect timeout.
    fn link(&mut self) -> Result<&mut Link, Failure> {
        if self.link.is_none() {
            let link = match self.sentinels.get(self.next_sentinel % self.sentinels.len().max(1)) {
                None => Link::open(&self.info, self.tls.as_ref(), Instant::now() + self.connect_timeout)?,
                Some(sentinel) => Link::through_sentinel(
                    &sentinel.info,
                    sentinel.tls.as_ref(),
                    &self.master_name,
                    Discovery {
                        info: self.info.clone(),
                        tls: self.tls.clone(),
                        connect_timeout: self.connect_timeout,
                        call: Vec::new(),
                        sentinel_handshake: 0,
                    },
                )?,
            };
            self.link = Some(link);
            self.connections += 1;
        }
        self.link.as_mut().ok_or(Failure::Lost)
    }

    /// When a command queued now is due: the reply timeout, plus the
    /// connect timeout on a connection not made yet or still connecting.
    fn due(&self) -> Instant {
        let connecting = self.link.as_ref().is_none_or(|link| link.socket.connecting() || link.discovery.is_some());
        // Through Sentinel: the sentinel's connect and answer, then the master's.
        let connects = if !connecting {
            0
        } else if self.sentinels.is_empty() {
            1
        } else {
            2
        };
        // With replicas, the WAIT after the claim takes up to the reply timeout.
        let replies = if self.replicas > 0 { 2 } else { 1 };
        Instant::now() + self.connect_timeout * connects + self.reply_timeout * replies
    }

    /// Drops the connection after `failure`: its state is unknown (a late
    /// reply may still come). The deferred claims waiting on it fail.
    fn broken(&mut self, failure: &Failure) {
        let link = self.link.take();
        if link.as_ref().is_some_and(|link| link.discovery.is_some())
            || matches!(failure, Failure::NoMaster | Failure::NotMaster)
        {
            // That sentinel did not answer, knew no master or named one
            // that is not: the next connection asks another.
            self.next_sentinel = self.next_sentinel.wrapping_add(1);
        }
        let waiting = link.map(|link| link.waiting).unwrap_or_default();
        self.fail_claims(waiting, failure);
    }

    fn fail_claims(&mut self, waiting: VecDeque<Waiting>, failure: &Failure) {
        self.failures_in_a_row = self.failures_in_a_row.saturating_add(1);
        if self.failures_in_a_row >= 2 {
            self.retry_after = Some(Instant::now() + RETRY_INTERVAL);
        }
        self.down(failure);
        for ticket in waiting.iter().filter_map(|command| match command.awaits {
            Awaits::Claim(ticket) => Some(ticket),
            _ => None,
        }) {
            let reason = self.refuse();
            self.settled.push((ticket, Err(reason)));
        }
        // Claims accepted whose WAIT was on this connection.
        for ticket in core::mem::take(&mut self.unacked) {
            let reason = self.refuse();
            self.settled.push((ticket, Err(reason)));
        }
    }

    /// [`Self::broken`], and the token at hand refused.
    fn fail(&mut self, failure: &Failure) -> Reason {
        self.broken(failure);
        self.refuse()
    }

    /// Redis answered: the connection is sound (no retry interval). Without
    /// replicas to wait for, the outage, if any, is over; with them, only a
    /// `WAIT` that counts enough replicas ends it ([`Self::replicated`]):
    /// else a master that answers while its replicas do not would end and
    /// begin an outage with every claim.
    fn answered(&mut self) {
        self.retry_after = None;
        self.failures_in_a_row = 0;
        if self.replicas == 0 {
            self.health.available = true;
        }
    }

    /// Enough replicas acknowledged a claim: the outage, if any, is over.
    fn replicated(&mut self) {
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
        for (ticket, ack, reply) in answered {
            if ack {
                self.acknowledged(ticket, reply);
                continue;
            }
            let result = match (&first_failure, claim_result(reply)) {
                (Some(Failure::Unexpected), _) => Err(self.refuse()),
                (_, Ok(Ok(()))) if self.replicas > 0 => {
                    // Accepted by the master: the verdict waits for WAIT.
                    self.answered();
                    self.unacked.push(ticket);
                    continue;
                }
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

    /// The reply to the `WAIT` after claim `ticket`: accepted once enough
    /// replicas took it, else refused as unavailable (the master may fail
    /// over to a replica that never saw it). A claim the master refused
    /// (a replay) has its verdict already.
    fn acknowledged(&mut self, ticket: u64, reply: Result<Value, Failure>) {
        let Some(at) = self.unacked.iter().position(|&t| t == ticket) else {
            return;
        };
        self.unacked.swap_remove(at);
        let result = match reply {
            Ok(Value::Int(acked)) if acked >= i64::from(self.replicas) => {
                self.replicated();
                Ok(())
            }
            Ok(Value::Int(acked)) => {
                self.down(&Failure::Replicas(acked, self.replicas));
                Err(self.refuse())
            }
            Ok(_) => {
                self.down(&Failure::Unexpected);
                Err(self.refuse())
            }
            Err(failure) => {
                self.down(&failure);
                Err(self.refuse())
            }
        };
        self.settled.push((ticket, result));
    }

    /// One command on the connection (made first if needed), its reply
    /// waited for up to the reply timeout (after the connect timeout on a
    /// new connection). A reused connection found dead (Redis restarted,
    /// or closed it while idle) is made again and the command sent once
    /// more; a timeout is not retried (it would double the time the caller
    /// waits).
    fn call(&mut self, packed: &[u8], answered: &mut Answered) -> Result<Value, Failure> {
        let deadline = self.due();
        let link = self.link()?;
        let reused = link.reused && link.waiting.is_empty();
        match link.call(packed, deadline, answered) {
            Err(Failure::Lost) if reused => {
                self.link = None;
                let deadline = self.due();
                self.link()?.call(packed, deadline, answered)
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
    pub fn claim(&mut self, key: &[u8], user: &[u8], lifetime_ms: u64) -> Result<(), Reason> {
        let reply = self.request(&claim_command(key, user, self.per_user, lifetime_ms))?;
        match claim_result(Ok(reply)) {
            Ok(Ok(())) if self.replicas > 0 => {
                let acked = self.request(&wait_command(self.replicas, self.reply_timeout))?;
                match acked {
                    Value::Int(acked) if acked >= i64::from(self.replicas) => {
                        self.replicated();
                        Ok(())
                    }
                    Value::Int(acked) => {
                        self.down(&Failure::Replicas(acked, self.replicas));
                        Err(self.refuse())
                    }
                    _ => Err(self.fail(&Failure::Unexpected)),
                }
            }
            Ok(result) => result,
            Err(failure) => Err(self.fail(&failure)),
        }
    }

    /// [`Self::claim`] without waiting: queues the `SET` (behind the
    /// connect, AUTH and SELECT on a new connection), writes what the
    /// socket takes now and returns a ticket; the reply is taken by
    /// [`Self::collect`] once the socket ([`Self::socket`]) is readable,
    /// or writable while it wants to write, or the claim fails there when
    /// [`Self::next_deadline`] has passed. Nothing here waits.
    ///
    /// # Errors
    /// [`Reason::ReplayStoreUnavailable`] when it cannot even be sent.
    pub fn send_claim(&mut self, key: &[u8], user: &[u8], lifetime_ms: u64) -> Result<u64, Reason> {
        if let Some(reason) = self.resting() {
            return Err(reason);
        }
        let packed = claim_command(key, user, self.per_user, lifetime_ms).get_packed_command();
        let deadline = self.due();
        let ticket = self.next_ticket + 1;
        let ack = (self.replicas > 0).then(|| wait_command(self.replicas, self.reply_timeout).get_packed_command());
        let sent = self.link().and_then(|link| {
            link.queue(packed, Awaits::Claim(ticket), deadline);
            if let Some(ack) = ack {
                link.queue(ack, Awaits::Ack(ticket), deadline);
            }
            link.flush()
        });
        if let Err(failure) = sent {
            // This claim is refused here, not also among the collected.
            if let Some(link) = self.link.as_mut() {
                link.waiting.retain(|command| command.awaits.ticket() != Some(ticket));
            }
            return Err(self.fail(&failure));
        }
        self.next_ticket = ticket;
        Ok(ticket)
    }

    /// The results of deferred claims that are in: the replies read so
    /// far without waiting (after writing what waited to be written), and
    /// a failure for every claim on a connection that broke or let a claim
    /// pass its deadline. A reused connection found closed is made again
    /// and its claims sent once more (a claim that Redis had applied
    /// before closing then reads as a replay: refused, never accepted
    /// twice).
    pub fn collect(&mut self) -> Vec<(u64, Result<(), Reason>)> {
        if let Some(link) = self.link.as_mut() {
            let mut answered = Vec::new();
            let mut read = link.pump();
            match link.hand_out(&mut answered) {
                Ok(None) => {}
                Ok(Some(_)) => read = Err(Failure::Unexpected), // a reply nobody asked for
                Err(failure) => read = Err(failure),            // the handshake failed
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
    /// A claim whose own reply came already and only its `WAIT` was lost is
    /// refused: a `WAIT` on a new connection would count no write of it.
    fn resend(&mut self) {
        let waiting = self.link.take().map(|link| link.waiting).unwrap_or_default();
        for ticket in core::mem::take(&mut self.unacked) {
            let reason = self.refuse();
            self.settled.push((ticket, Err(reason)));
        }
        let sent = self.link().and_then(|link| {
            for command in &waiting {
                // The handshake is the new connection's own.
                if command.awaits.ticket().is_some() {
                    link.queue(command.packed.clone(), command.awaits, command.deadline);
                }
            }
            link.flush()
        });
        if let Err(failure) = sent {
            self.link = None;
            self.fail_claims(waiting, &failure);
        }
    }

    /// The socket the deferred claims' replies come on, to watch for
    /// readability (and writability while it wants to write: connecting,
    /// or bytes the socket did not take yet), and the connection's serial
    /// number (a new connection may get the old one's descriptor number);
    /// `None` without a connection.
    #[must_use]
    pub fn socket(&self) -> Option<(BorrowedFd<'_>, u64, bool)> {
        // A link switched from a sentinel to the master has a new socket.
        self.link.as_ref().map(|link| (link.fd(), self.connections + ((link.sockets - 1) << 32), link.wants_write()))
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

#[cfg(test)]
mod tests {
    use super::super::protocol::paired_link;
    use super::*;
    use std::io::{self, Write};
    use std::os::unix::net::UnixStream;

    fn open(url: &[u8], connect_timeout_ms: Option<i64>, reply_timeout_ms: Option<i64>) -> Result<Store, ConfigError> {
        Store::open(&Settings { url: url.to_vec(), connect_timeout_ms, reply_timeout_ms, ..Settings::default() })
    }

    #[test]
    fn urls_and_timeouts_are_validated_without_showing_them() {
        for good in [
            "redis://127.0.0.1:6379",
            "redis://:pw@127.0.0.1:6379/2",
            "redis+unix:///run/redis.sock",
            "unix:///run/r.sock?db=1",
        ] {
            assert!(open(good.as_bytes(), None, None).is_ok(), "{good}");
        }
        for bad in ["http://x", "redis://", "nonsense", "rediss://:hunter2@host:6380#insecure", "rediss://:hunter2@/x"]
        {
            let err = open(bad.as_bytes(), None, None).expect_err(bad);
            assert_eq!(err.option(), "replay_store");
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
        assert!(open(b"\xff", None, None).is_err());
        for (connect, reply, option) in [
            (Some(0), None, "replay_store_connect_timeout"),
            (Some(10_001), None, "replay_store_connect_timeout"),
            (None, Some(-1), "replay_store_timeout"),
        ] {
            let err = open(b"redis://127.0.0.1", connect, reply).expect_err(option);
            assert_eq!(err.option(), option);
        }
        let store = open(b"redis://127.0.0.1", Some(5), Some(7)).expect("valid");
        assert_eq!(store.timeouts(), (Duration::from_millis(5), Duration::from_millis(7)));
        let shown = format!("{:?}", open(b"redis://:hunter2@127.0.0.1", None, None).expect("valid"));
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    /// A store already connected, over a socket pair; the test plays Redis.
    fn paired_store() -> (Store, UnixStream) {
        let mut store = open(b"redis://127.0.0.1:1", None, Some(2000)).expect("valid");
        let (link, redis) = paired_link();
        store.link = Some(link);
        store.connections = 1;
        (store, redis)
    }

    #[test]
    fn with_replicas_a_claim_counts_once_wait_says_enough_replicas_have_it() {
        let (mut store, mut redis) = paired_store();
        store.replicas = 1;
        let tickets: Vec<u64> = (0..3).map(|_| store.send_claim(b"k", b"u", 1000).expect("sent")).collect();
        let mut sent = vec![0u8; 4096];
        let n = io::Read::read(&mut redis, &mut sent).expect("read");
        let sent = String::from_utf8_lossy(&sent[..n]).into_owned();
        assert_eq!(sent.matches("WAIT").count(), 3, "{sent}");
        // Acknowledged; not acknowledged; a replay (its WAIT reply is ignored).
        redis.write_all(b"+OK\r\n:1\r\n+OK\r\n:0\r\n$-1\r\n:1\r\n").expect("write");
        let results = collect_all(&mut store, 3);
        assert_eq!(
            results,
            vec![
                (tickets[0], Ok(())),
                (tickets[1], Err(Reason::ReplayStoreUnavailable)),
                (tickets[2], Err(Reason::Replayed)),
            ]
        );
        assert_eq!(store.health().last_error.as_deref(), Some("0 of 1 replicas acknowledged the claim"));
        assert!(store.unacked.is_empty());
        // One outage, however many claims the master takes and its replicas
        // do not: it ends when a WAIT counts enough replicas again.
        let more: Vec<u64> = (0..3).map(|_| store.send_claim(b"k", b"u", 1000).expect("sent")).collect();
        redis.write_all(b"+OK\r\n:0\r\n+OK\r\n:0\r\n$-1\r\n:0\r\n").expect("write");
        assert_eq!(collect_all(&mut store, 3).len(), more.len());
        assert_eq!((store.health().outages, store.health().available), (1, false));
        store.send_claim(b"k", b"u", 1000).expect("sent");
        redis.write_all(b"+OK\r\n:1\r\n").expect("write");
        assert_eq!(collect_all(&mut store, 1).len(), 1);
        assert_eq!((store.health().outages, store.health().available), (1, true));
    }

    fn collect_all(store: &mut Store, count: usize) -> Vec<(u64, Result<(), Reason>)> {
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
        let tickets: Vec<u64> = (0..4).map(|_| store.send_claim(b"k", b"u", 1000).expect("sent")).collect();
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
        let tickets: Vec<u64> = (0..3).map(|_| store.send_claim(b"k", b"u", 1000).expect("sent")).collect();
        redis.write_all(b"+OK\r\n+PONG\r\n+OK\r\n").expect("write");
        let results = collect_all(&mut store, 3);
        assert_eq!(results[0], (tickets[0], Ok(())));
        assert_eq!(results[1], (tickets[1], Err(Reason::ReplayStoreUnavailable)));
        assert_eq!(results[2], (tickets[2], Err(Reason::ReplayStoreUnavailable)));
    }

    #[test]
    fn a_waiting_call_leaves_the_deferred_verdicts_it_read_due_at_once() {
        let (mut store, mut redis) = paired_store();
        let ticket = store.send_claim(b"k", b"u", 1000).expect("sent");
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
        let mut store = open(url.as_bytes(), Some(200), Some(200)).expect("valid");
        let started = Instant::now();
        assert_eq!(store.claim(b"k", b"u", 1000), Err(Reason::ReplayStoreUnavailable));
        assert!(started.elapsed() < Duration::from_secs(2), "held {:?}", started.elapsed());
        drop((held, listener));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A one-shot server on loopback: reads one request, writes `reply`.
    fn answer_once(reply: Vec<u8>) -> u16 {
        answer_once_telling(reply).0
    }

    /// [`answer_once`], and what it was sent.
    fn answer_once_telling(reply: Vec<u8>) -> (u16, std::sync::mpsc::Receiver<Vec<u8>>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let (tell, told) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            if let Ok((mut stream, _)) = listener.accept() {
                let mut request = [0u8; 512];
                let n = io::Read::read(&mut stream, &mut request).unwrap_or(0);
                let _ = tell.send(request.get(..n).unwrap_or_default().to_vec());
                let _ = stream.write_all(&reply);
                std::thread::sleep(Duration::from_millis(500));
            }
        });
        (port, told)
    }

    fn through_sentinels(sentinels: &[&str]) -> Result<Store, ConfigError> {
        Store::open(&Settings {
            url: b"redis://127.0.0.1:1".to_vec(),
            reply_timeout_ms: Some(2000),
            connect_timeout_ms: Some(2000),
            sentinels: sentinels.iter().map(|s| s.as_bytes().to_vec()).collect(),
            master: Some(b"m".to_vec()),
            ..Settings::default()
        })
    }

    #[test]
    fn sentinels_are_addresses_or_urls_of_one_without_showing_them() {
        for good in
            ["127.0.0.1:26379", "redis://127.0.0.1:26379", "redis://:hunter2@127.0.0.1:26379", "redis://u:p@[::1]:5"]
        {
            assert!(through_sentinels(&[good]).is_ok(), "{good}");
        }
        for bad in [
            "127.0.0.1",
            ":hunter2@127.0.0.1:26379",
            "redis://:hunter2@127.0.0.1",
            "redis://:hunter2@127.0.0.1:26379/2",
            "redis://:hunter2@127.0.0.1:26379?db=1",
            "rediss://:hunter2@127.0.0.1:26379#insecure",
            "redis+unix:///run/sentinel.sock",
            "http://127.0.0.1:26379",
        ] {
            let err = through_sentinels(&[bad]).expect_err(bad);
            assert_eq!(err.option(), "replay_store_sentinels", "{bad}");
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
        // The TLS options need a rediss:// URL somewhere: the store's or a sentinel's.
        let err = Store::open(&Settings {
            url: b"redis://127.0.0.1:1".to_vec(),
            ca: Some(b"/nonexistent/ca.pem".to_vec()),
            sentinels: vec![b"127.0.0.1:26379".to_vec()],
            master: Some(b"m".to_vec()),
            ..Settings::default()
        })
        .expect_err("a CA with nothing to use it");
        assert_eq!(err.option(), "replay_store_ca");
        assert!(err.to_string().contains("nor a sentinel"), "{err}");
    }

    #[test]
    fn a_sentinel_with_a_password_is_asked_after_auth() {
        let master = answer_once(b"*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n+OK\r\n".to_vec()).to_string();
        let named = format!("*2\r\n$9\r\n127.0.0.1\r\n${}\r\n{master}\r\n", master.len());
        let (sentinel, told) = answer_once_telling(format!("+OK\r\n{named}").into_bytes());
        let mut store = through_sentinels(&[&format!("redis://watcher:s3cret@127.0.0.1:{sentinel}")]).expect("valid");
        assert_eq!(store.claim(b"k", b"u", 1000), Ok(()));
        let sent = told.recv_timeout(Duration::from_secs(2)).expect("the sentinel was asked");
        let auth = redis::cmd("AUTH").arg("watcher").arg("s3cret").get_packed_command();
        let ask = redis::cmd("SENTINEL").arg("get-master-addr-by-name").arg("m").get_packed_command();
        assert_eq!(sent, [auth, ask].concat());
        // A wrong password: that sentinel is not believed, and the next is asked.
        let (refusing, _) =
            answer_once_telling(format!("-WRONGPASS invalid username-password pair\r\n{named}").into_bytes());
        let mut store =
            through_sentinels(&[&format!("redis://:wrong@127.0.0.1:{refusing}"), "127.0.0.1:1"]).expect("valid");
        assert_eq!(store.claim(b"k", b"u", 1000), Err(Reason::ReplayStoreUnavailable));
        assert_eq!(store.health().last_error.as_deref(), Some("authentication failed"));
        assert_eq!(store.next_sentinel, 1);
    }

    #[test]
    fn sentinels_are_asked_in_turn_and_the_claim_goes_to_the_master_named() {
        let nobody = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
        let master = answer_once(b"*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n+OK\r\n".to_vec());
        let port = master.to_string();
        let sentinel = answer_once(format!("*2\r\n$9\r\n127.0.0.1\r\n${}\r\n{port}\r\n", port.len()).into_bytes());
        let mut store = Store::open(&Settings {
            url: b"redis://127.0.0.1:1".to_vec(),
            reply_timeout_ms: Some(2000),
            connect_timeout_ms: Some(2000),
            sentinels: vec![format!("127.0.0.1:{nobody}").into_bytes(), format!("127.0.0.1:{sentinel}").into_bytes()],
            master: Some(b"m".to_vec()),
            ..Settings::default()
        })
        .expect("valid");
        // The first sentinel is not there: that claim is refused...
        assert_eq!(store.claim(b"k", b"u", 1000), Err(Reason::ReplayStoreUnavailable));
        assert_eq!(store.health().last_error.as_deref(), Some("connection refused"));
        // ...and the next asks the second, which names the master.
        assert_eq!(store.claim(b"k", b"u", 1000), Ok(()));
        assert!(store.health().available);
    }

    /// A store whose one sentinel names a server on loopback that answers
    /// its first write (the ROLE, then the claim) with `replies`.
    fn through_a_sentinel_to(replies: &[u8]) -> Store {
        let named = answer_once(replies.to_vec()).to_string();
        let sentinel = answer_once(format!("*2\r\n$9\r\n127.0.0.1\r\n${}\r\n{named}\r\n", named.len()).into_bytes());
        Store::open(&Settings {
            url: b"redis://127.0.0.1:1".to_vec(),
            reply_timeout_ms: Some(2000),
            connect_timeout_ms: Some(2000),
            sentinels: vec![format!("127.0.0.1:{sentinel}").into_bytes()],
            master: Some(b"m".to_vec()),
            ..Settings::default()
        })
        .expect("valid")
    }

    #[test]
    fn a_server_sentinel_names_that_refuses_role_is_said_to_need_it() {
        let mut store =
            through_a_sentinel_to(b"-NOPERM User tokens has no permissions to run the 'role' command\r\n+OK\r\n");
        assert_eq!(store.claim(b"k", b"u", 1000), Err(Reason::ReplayStoreUnavailable));
        assert_eq!(
            store.health().last_error.as_deref(),
            Some("ROLE refused (NOPERM): the store's Redis user needs +role to check the master")
        );
    }

    #[test]
    fn a_server_sentinel_names_that_is_not_the_master_gets_no_claim() {
        // A master demoted to replica since Sentinel last looked, with
        // replica-read-only off: it would take the claim.
        let mut store =
            through_a_sentinel_to(b"*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:6379\r\n$9\r\nconnected\r\n:0\r\n+OK\r\n");
        assert_eq!(store.claim(b"k", b"u", 1000), Err(Reason::ReplayStoreUnavailable));
        assert_eq!(store.health().last_error.as_deref(), Some("the server Sentinel named is not the master"));
        // And one that says master gets it.
        let mut store = through_a_sentinel_to(b"*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n+OK\r\n");
        assert_eq!(store.claim(b"k", b"u", 1000), Ok(()));
    }

    #[test]
    fn a_store_nobody_listens_on_fails_closed_then_fast() {
        // A port on loopback with no listener: refused at once, no Redis
        // needed. Redis itself is tested in spec/redis (a real server).
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
        let mut store = open(format!("redis://127.0.0.1:{port}").as_bytes(), None, None).expect("valid");
        assert!(store.health().available);
        assert_eq!(store.claim(b"k", b"u", 1000), Err(Reason::ReplayStoreUnavailable));
        assert!(store.retry_after.is_none(), "one failure: the next token tries again");
        let health = store.health().clone();
        assert!(!health.available);
        assert_eq!((health.outages, health.refusals), (1, 1));
        assert_eq!(health.last_error.as_deref(), Some("connection refused"));
        // The second failure in a row starts the retry interval...
        assert_eq!(store.claim(b"k", b"u", 1000), Err(Reason::ReplayStoreUnavailable));
        assert!(store.retry_after.is_some());
        // ...within which it refuses without trying, even once something
        // listens there again: no connection reaches the listener.
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("the same port");
        listener.set_nonblocking(true).expect("non-blocking");
        assert_eq!(store.claim(b"k", b"u", 1000), Err(Reason::ReplayStoreUnavailable));
        assert_eq!(store.send_claim(b"k", b"u", 1000), Err(Reason::ReplayStoreUnavailable));
        assert!(listener.accept().is_err_and(|err| err.kind() == io::ErrorKind::WouldBlock));
        assert_eq!((store.health().outages, store.health().refusals), (1, 4));
    }
}
