//! The protocol layer: RESP commands out and one-line replies in over one
//! connection, the replies handed to the claims waiting for them in the
//! order Redis answers. The `redis` crate encodes the commands and parses
//! the reply lines.

use std::collections::VecDeque;
use std::io;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use redis::{ConnectionInfo, Value};

use super::socket::Socket;
use super::tls::Tls;
use super::Failure;

/// Longest reply line read: every reply expected is a few dozen bytes.
const MAX_REPLY_LINE: usize = 4096;
/// Longest array reply read (a master's `ROLE` lists its replicas).
const MAX_ARRAY_REPLY: usize = 64 * 1024;
/// Bytes read from the socket in one go, at the most: thousands of times
/// the replies of a busy server's pipelined claims, so never met but by a
/// peer that floods.
const MAX_FILL: usize = 1024 * 1024;
/// Elements of one array, and arrays within arrays, at the most.
const MAX_ARRAY_LEN: usize = 1024;
const MAX_ARRAY_DEPTH: usize = 3;

/// The length after a RESP type byte: `Some(3)` for `*3`, `None` for the
/// nil `$-1` or `*-1`; anything else is no header.
fn header_len(line: &[u8]) -> Result<Option<usize>, Failure> {
    let number = line.get(1..).and_then(|digits| core::str::from_utf8(digits).ok()?.parse::<i64>().ok());
    match number {
        Some(-1) => Ok(None),
        Some(len) => usize::try_from(len).map(Some).map_err(|_| Failure::Unexpected),
        None => Err(Failure::Unexpected),
    }
}

/// Where the RESP2 element at `at` ends: `Ok(None)` while it is not all in
/// `inbox`, `Err` as soon as it cannot be one, or is out of bounds.
fn element_end(inbox: &[u8], at: usize, depth: usize) -> Result<Option<usize>, Failure> {
    let rest = inbox.get(at..).unwrap_or_default();
    let Some(eol) = rest.windows(2).position(|pair| pair == b"\r\n") else {
        return if rest.len() > MAX_REPLY_LINE { Err(Failure::Unexpected) } else { Ok(None) };
    };
    let (line, line_end) = (&rest[..eol], at + eol + 2);
    match line.first() {
        Some(b'+' | b'-' | b':') => Ok(Some(line_end)),
        Some(b'$') => match header_len(line)? {
            None => Ok(Some(line_end)),
            Some(len) if len <= MAX_REPLY_LINE => {
                let end = line_end + len + 2;
                match inbox.get(end - 2..end) {
                    None => Ok(None),
                    Some(b"\r\n") => Ok(Some(end)),
                    Some(_) => Err(Failure::Unexpected),
                }
            }
            Some(_) => Err(Failure::Unexpected),
        },
        Some(b'*') if depth < MAX_ARRAY_DEPTH => match header_len(line)? {
            None => Ok(Some(line_end)),
            Some(len) if len <= MAX_ARRAY_LEN => {
                let mut end = line_end;
                for _ in 0..len {
                    match element_end(inbox, end, depth + 1)? {
                        Some(next) if next <= MAX_ARRAY_REPLY => end = next,
                        Some(_) => return Err(Failure::Unexpected),
                        None => return Ok(None),
                    }
                }
                Ok(Some(end))
            }
            Some(_) => Err(Failure::Unexpected),
        },
        _ => Err(Failure::Unexpected),
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

/// Replies read for deferred claims, by ticket: the claim's own reply, or
/// (`true`) the reply to the `WAIT` sent after it.
pub(super) type Answered = Vec<(u64, bool, Result<Value, Failure>)>;

/// What a command sent waits for, and who gets its reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Awaits {
    /// A step of the handshake (AUTH, SELECT), whose reply must be `+OK`.
    Ok,
    /// The `ROLE` of the handshake after a Sentinel switch, whose reply
    /// must say `master`.
    Master,
    /// The deferred claim of this ticket.
    Claim(u64),
    /// The `WAIT` after the claim of this ticket.
    Ack(u64),
}

impl Awaits {
    /// The ticket whose verdict the reply makes, if any.
    pub(super) fn ticket(self) -> Option<u64> {
        match self {
            Awaits::Claim(ticket) | Awaits::Ack(ticket) => Some(ticket),
            Awaits::Ok | Awaits::Master => None,
        }
    }
}

/// A command sent and not yet answered.
pub(super) struct Waiting {
    pub(super) awaits: Awaits,
    pub(super) deadline: Instant,
    // The command, to send once more if a reused connection turns out
    // to be dead.
    pub(super) packed: Vec<u8>,
}

/// Where a link asks Sentinel for the master before it serves.
pub(super) struct Discovery {
    /// The master's connection info but for its address (password, DB).
    pub(super) info: ConnectionInfo,
    pub(super) tls: Option<Tls>,
    /// When the master's handshake is due, from the switch.
    pub(super) connect_timeout: Duration,
    /// Bytes of a waiting call, sent on the master after the claims.
    pub(super) call: Vec<u8>,
    /// Replies owed to the sentinel's handshake (`AUTH`) before its answer.
    pub(super) sentinel_handshake: usize,
}

/// One connection: the socket, the bytes not yet written and the bytes
/// read and not yet taken, the commands waiting for their replies (Redis
/// answers in order). Nothing here waits unless asked to ([`Self::call`]).
/// A link opened through Sentinel first connects to a sentinel and asks for
/// the master's address; the claims queued meanwhile wait, and go out on
/// the master's connection, which replaces the sentinel's on the reply.
pub(super) struct Link {
    pub(super) socket: Socket,
    pub(super) outbox: Vec<u8>,
    pub(super) inbox: Vec<u8>,
    pub(super) waiting: VecDeque<Waiting>,
    // Whether it has carried a command: a connection that fails before
    // its first reply is new, and retrying it would only fail again.
    pub(super) reused: bool,
    /// Asking Sentinel: the master is not known yet.
    pub(super) discovery: Option<Box<Discovery>>,
    /// Sockets this link has had (1, or 2 once switched to the master).
    pub(super) sockets: u64,
}

fn handshake(info: &ConnectionInfo) -> Vec<Vec<u8>> {
    let settings = info.redis_settings();
    let mut steps = Vec::new();
    if let Some(password) = settings.password() {
        let mut auth = redis::cmd("AUTH");
        if let Some(username) = settings.username() {
            auth.arg(username);
        }
        auth.arg(password);
        steps.push(auth.get_packed_command());
    }
    if settings.db() != 0 {
        steps.push(redis::cmd("SELECT").arg(settings.db()).get_packed_command());
    }
    steps
}

impl Link {
    /// Starts connecting (TLS over it with `tls`) and queues, as the URL
    /// asks, AUTH and SELECT: they go out with the first command, in one
    /// write, and their replies are due by `deadline`. Returns at once.
    pub(super) fn open(info: &ConnectionInfo, tls: Option<&Tls>, deadline: Instant) -> Result<Link, Failure> {
        let socket = Socket::start(info.addr(), tls)?;
        let mut link = Link::over(socket);
        for step in handshake(info) {
            link.queue(step, Awaits::Ok, deadline);
        }
        Ok(link)
    }

    /// Starts connecting to `sentinel` (TLS over it with `tls`) and asks
    /// it for the address of the master `name`, after AUTH if the
    /// sentinel's URL gives a password; the link then serves as
    /// [`Self::open`] would on `master` at that address. Returns at once.
    pub(super) fn through_sentinel(
        sentinel: &ConnectionInfo,
        tls: Option<&Tls>,
        name: &str,
        mut master: Discovery,
    ) -> Result<Link, Failure> {
        let socket = Socket::start(sentinel.addr(), tls)?;
        let mut link = Link::over(socket);
        let steps = handshake(sentinel);
        master.sentinel_handshake = steps.len();
        link.outbox = steps.concat();
        link.outbox.extend(redis::cmd("SENTINEL").arg("get-master-addr-by-name").arg(name).get_packed_command());
        link.discovery = Some(Box::new(master));
        Ok(link)
    }

    /// Sentinel answered `reply`: connect to the master it names, and send
    /// there the handshake, then every command queued meanwhile.
    fn switch(&mut self, reply: Value) -> Result<(), Failure> {
        let Some(discovery) = self.discovery.take() else {
            return Err(Failure::Unexpected);
        };
        let address = match reply {
            Value::Array(parts) => match parts.as_slice() {
                [Value::BulkString(host), Value::BulkString(port)] => core::str::from_utf8(host)
                    .ok()
                    .zip(core::str::from_utf8(port).ok().and_then(|port| port.parse::<u16>().ok()))
                    .map(|(host, port)| (host.to_owned(), port)),
                _ => None,
            },
            _ => None,
        };
        // Nil: the sentinel knows no master of that name.
        let (host, port) = address.ok_or(Failure::NoMaster)?;
        let tls = match &discovery.tls {
            Some(tls) => Some(tls.for_host(&host).map_err(|_| Failure::NoMaster)?),
            None => None,
        };
        let info = discovery.info.clone().set_addr(redis::ConnectionAddr::Tcp(host, port));
        self.socket = Socket::start(info.addr(), tls.as_ref())?;
        self.sockets += 1;
        self.inbox.clear();
        let deadline = Instant::now() + discovery.connect_timeout;
        let mut outbox = Vec::new();
        let mut steps = VecDeque::new();
        for step in handshake(&info) {
            outbox.extend_from_slice(&step);
            steps.push_back(Waiting { awaits: Awaits::Ok, deadline, packed: step });
        }
        // What Sentinel named may be out of date (a master demoted since):
        // Redis's guide for Sentinel clients has them ask the server its
        // ROLE before using it. A replica with replica-read-only off would
        // take the claims, and lose them when it resyncs.
        let role = redis::cmd("ROLE").get_packed_command();
        outbox.extend_from_slice(&role);
        steps.push_back(Waiting { awaits: Awaits::Master, deadline, packed: role });
        for command in &self.waiting {
            outbox.extend_from_slice(&command.packed);
        }
        outbox.extend_from_slice(&discovery.call);
        steps.append(&mut self.waiting);
        self.waiting = steps;
        self.outbox = outbox;
        Ok(())
    }

    /// A link over a socket, nothing queued.
    pub(super) fn over(socket: Socket) -> Link {
        Link {
            socket,
            outbox: Vec::new(),
            inbox: Vec::new(),
            waiting: VecDeque::new(),
            reused: false,
            discovery: None,
            sockets: 1,
        }
    }

    pub(super) fn fd(&self) -> BorrowedFd<'_> {
        self.socket.fd()
    }

    /// Queues a command whose reply is awaited as `awaits` says
    /// ([`Self::hand_out`] gives a claim's or a `WAIT`'s to its ticket);
    /// [`Self::flush`] sends it.
    pub(super) fn queue(&mut self, packed: Vec<u8>, awaits: Awaits, deadline: Instant) {
        if self.discovery.is_none() {
            self.outbox.extend_from_slice(&packed);
        }
        self.waiting.push_back(Waiting { awaits, deadline, packed });
    }

    /// Whether it has something to write, or is still connecting: the
    /// caller watches the socket for writability then.
    pub(super) fn wants_write(&self) -> bool {
        self.socket.connecting() || !self.outbox.is_empty() || self.socket.tls_pending()
    }

    /// Writes what the socket takes now, without waiting.
    pub(super) fn flush(&mut self) -> Result<(), Failure> {
        if !self.socket.connected()? {
            return Ok(());
        }
        self.socket.flush_tls()?;
        while !self.outbox.is_empty() {
            match self.socket.write(&self.outbox) {
                Ok(0) => return Err(Failure::Lost),
                Ok(n) => {
                    self.outbox.drain(..n.min(self.outbox.len()));
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err.into()),
            }
        }
        Ok(())
    }

    /// Writes what it can and reads what the socket holds, without waiting.
    pub(super) fn pump(&mut self) -> Result<(), Failure> {
        self.flush()?;
        if self.socket.connecting() {
            return Ok(());
        }
        self.fill()
    }

    /// Reads what the socket holds, without waiting, and at most
    /// [`MAX_FILL`] bytes at a time: a peer that never stops sending must
    /// not hold the caller (Prosody's thread) or grow the inbox without
    /// bound; the rest waits in the socket, readable, for the next call.
    pub(super) fn fill(&mut self) -> Result<(), Failure> {
        let mut buffer = [0u8; 512];
        let mut taken = 0;
        while taken < MAX_FILL {
            match self.socket.read(&mut buffer) {
                Ok(0) => return Err(Failure::Lost),
                Ok(n) => {
                    self.inbox.extend_from_slice(buffer.get(..n).unwrap_or_default());
                    taken += n;
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err.into()),
            }
        }
        Ok(())
    }

    /// The next complete reply, if the inbox holds one. Every command sent
    /// here (the claim, WAIT, PING, AUTH, SELECT) is answered by one line
    /// (`+OK`, `:1`, `$-1`, `-ERR ...`, `+PONG`), Sentinel's address and
    /// `ROLE` by an array ([`Self::next_array`]); the crate's parser reads
    /// them. Anything else is a reply the protocol does not allow here.
    pub(super) fn next_reply(&mut self) -> Option<Result<Value, Failure>> {
        let Some(end) = self.inbox.windows(2).position(|pair| pair == b"\r\n") else {
            // A reply here is a short line: this many bytes without its end
            // is not one, and the inbox must not grow without bound.
            return (self.inbox.len() > MAX_REPLY_LINE).then(|| {
                self.inbox.clear();
                Err(Failure::Unexpected)
            });
        };
        let end = end + 2;
        if self.inbox.first() == Some(&b'*') {
            return self.next_array(end);
        }
        let line: Vec<u8> = self.inbox.drain(..end).collect();
        let reply = match line.first() {
            Some(b'+' | b'-' | b':') => redis::parse_redis_value(&line).map_err(|_| Failure::Unexpected),
            Some(b'$') if line.starts_with(b"$-1\r\n") => Ok(Value::Nil),
            _ => Err(Failure::Unexpected),
        };
        Some(reply.and_then(|value| server_error(&value).map_or(Ok(value), Err)))
    }

    /// An array reply: nil (`*-1`), empty, or one that starts with a bulk
    /// string, as the only arrays asked for do (Sentinel's
    /// `get-master-addr-by-name`: host and port; `ROLE`: the role's name
    /// first); `None` until all of it is in. An array that starts with
    /// anything else is refused as soon as that shows.
    fn next_array(&mut self, header_end: usize) -> Option<Result<Value, Failure>> {
        let empty = matches!(self.inbox.get(..header_end), Some(b"*-1\r\n" | b"*0\r\n"));
        if !empty && self.inbox.get(header_end).is_some_and(|&b| b != b'$') {
            self.inbox.clear();
            return Some(Err(Failure::Unexpected));
        }
        let end = match element_end(&self.inbox, 0, 0) {
            Ok(Some(end)) if end <= MAX_ARRAY_REPLY => end,
            // Not all in yet, and not grown past any reply asked for.
            Ok(None) if self.inbox.len() <= MAX_ARRAY_REPLY => return None,
            Ok(_) => {
                self.inbox.clear();
                return Some(Err(Failure::Unexpected));
            }
            Err(failure) => {
                self.inbox.clear();
                return Some(Err(failure));
            }
        };
        let frame: Vec<u8> = self.inbox.drain(..end).collect();
        Some(redis::parse_redis_value(&frame).map_err(|_| Failure::Unexpected))
    }

    /// Hands the complete replies in the inbox to the deferred claims
    /// waiting for them, oldest first, and returns the first reply that no
    /// claim waits for. A handshake step answered with anything but `+OK`
    /// fails the connection (a wrong password: `WRONGPASS`).
    pub(super) fn hand_out(&mut self, answered: &mut Answered) -> Result<Option<Result<Value, Failure>>, Failure> {
        while self.discovery.is_some() {
            let Some(reply) = self.next_reply() else {
                return Ok(None);
            };
            // The sentinel's AUTH (a wrong password: `WRONGPASS`), then its answer.
            if let Some(discovery) = self.discovery.as_mut().filter(|discovery| discovery.sentinel_handshake > 0) {
                discovery.sentinel_handshake -= 1;
                match reply? {
                    Value::Okay => continue,
                    _ => return Err(Failure::Unexpected),
                }
            }
            self.switch(reply?)?;
            return Ok(None);
        }
        while let Some(reply) = self.next_reply() {
            match self.waiting.pop_front().map(|waiting| waiting.awaits) {
                Some(Awaits::Claim(ticket)) => answered.push((ticket, false, reply)),
                Some(Awaits::Ack(ticket)) => answered.push((ticket, true, reply)),
                Some(Awaits::Ok) => match reply? {
                    Value::Okay => {}
                    _ => return Err(Failure::Unexpected),
                },
                Some(Awaits::Master) => match reply.map_err(|failure| match failure {
                    // An ACL without +role (`-@dangerous` takes it away).
                    Failure::Server(code) => Failure::RoleRefused(code),
                    other => other,
                })? {
                    Value::Array(parts) => match parts.first() {
                        Some(Value::BulkString(role)) if role.as_slice() == b"master" => {}
                        Some(Value::BulkString(_)) => return Err(Failure::NotMaster),
                        _ => return Err(Failure::Unexpected),
                    },
                    _ => return Err(Failure::Unexpected),
                },
                None => return Ok(Some(reply)),
            }
        }
        Ok(None)
    }

    /// Sends one command and waits for its reply until `deadline` (the
    /// connect and the handshake, if still under way, included). The
    /// replies owed to deferred claims come first: they go to `answered`.
    pub(super) fn call(&mut self, packed: &[u8], deadline: Instant, answered: &mut Answered) -> Result<Value, Failure> {
        match self.discovery.as_mut() {
            Some(discovery) => discovery.call.extend_from_slice(packed),
            None => self.outbox.extend_from_slice(packed),
        }
        loop {
            self.flush()?;
            if let Some(reply) = self.hand_out(answered)? {
                self.reused = true;
                return reply;
            }
            self.socket.wait(self.wants_write(), deadline)?;
            if !self.socket.connecting() {
                self.fill()?;
            }
        }
    }
}

/// Claims a token key and, within the user's bound, a place in the user's
/// set, in one step: 1 (claimed), 0 (the key exists: a replay) or -1 (the
/// user already holds `per_user` live tokens). The user's set is a sorted
/// set of token keys scored by when they expire (Redis' own clock), its
/// dead members dropped first; it lives as long as its longest-lived token.
const CLAIM_SCRIPT: &str = "\
local t = redis.call('TIME') \
local now = t[1] * 1000 + math.floor(t[2] / 1000) \
local life = tonumber(ARGV[1]) \
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end \
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now) \
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[2]) then return -1 end \
redis.call('SET', KEYS[1], 1, 'PX', life) \
redis.call('ZADD', KEYS[2], now + life, KEYS[1]) \
if redis.call('PTTL', KEYS[2]) < life then redis.call('PEXPIRE', KEYS[2], life) end \
return 1";

/// The claim of `key` for `lifetime_ms`: with a per-user bound, the
/// script above over `key` and `user` (one EVAL, atomic in Redis);
/// without one, `SET key 1 NX PX lifetime_ms`.
pub(super) fn claim_command(key: &[u8], user: &[u8], per_user: Option<u64>, lifetime_ms: u64) -> redis::Cmd {
    let mut command;
    if let Some(bound) = per_user {
        command = redis::cmd("EVAL");
        command.arg(CLAIM_SCRIPT).arg(2).arg(key).arg(user).arg(lifetime_ms).arg(bound);
    } else {
        command = redis::cmd("SET");
        command.arg(key).arg(1).arg("NX").arg("PX").arg(lifetime_ms);
    }
    command
}

/// `WAIT replicas timeout`: how many replicas have the writes so far.
pub(super) fn wait_command(replicas: u32, timeout: Duration) -> redis::Cmd {
    let mut command = redis::cmd("WAIT");
    command.arg(replicas).arg(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX).max(1));
    command
}

#[cfg(test)]
/// A link over one end of a socket pair; the test plays Redis on the other.
pub(super) fn paired_link() -> (Link, std::os::unix::net::UnixStream) {
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().expect("socket pair");
    (Link::over(Socket::from_stream(ours)), theirs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

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
        // Among them arrays nested deeper, or longer, than any reply asked for.
        for reply in [
            &b"$5\r\nhello\r\n"[..],
            b"*1\r\n:1\r\n",
            b"*2\r\n:1\r\n",
            b"?\r\n",
            b"_\r\n",
            b"*2\r\n$1\r\nx\r\n*1\r\n*1\r\n*1\r\n:1\r\n",
            b"*9999\r\n$1\r\nx\r\n",
        ] {
            let (mut link, mut redis) = paired_link();
            redis.write_all(reply).expect("write");
            link.fill().expect("fill");
            assert_eq!(link.next_reply(), Some(Err(Failure::Unexpected)), "{reply:?}");
        }
    }

    #[test]
    fn sentinel_addresses_are_taken_whole_however_they_arrive() {
        let (mut link, mut redis) = paired_link();
        redis.write_all(b"*2\r\n$9\r\n127.0.0.1\r\n$4\r\n63").expect("write");
        link.fill().expect("fill");
        assert!(link.next_reply().is_none(), "half an array is no reply yet");
        redis.write_all(b"79\r\n*-1\r\n").expect("write");
        link.fill().expect("fill");
        assert_eq!(
            link.next_reply(),
            Some(Ok(Value::Array(vec![Value::BulkString(b"127.0.0.1".to_vec()), Value::BulkString(b"6379".to_vec())])))
        );
        assert_eq!(link.next_reply(), Some(Ok(Value::Nil)));
    }

    #[test]
    fn role_replies_are_taken_whole_however_they_arrive() {
        let (mut link, mut redis) = paired_link();
        // A master with one replica, split inside the nested array.
        redis.write_all(b"*3\r\n$6\r\nmaster\r\n:42\r\n*1\r\n*3\r\n$9\r\n127.0.0.1\r\n$4\r\n63").expect("write");
        link.fill().expect("fill");
        assert!(link.next_reply().is_none(), "half a ROLE is no reply yet");
        redis
            .write_all(b"80\r\n$2\r\n42\r\n*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:6379\r\n$9\r\nconnected\r\n:42\r\n")
            .expect("write");
        link.fill().expect("fill");
        let bulk = |text: &str| Value::BulkString(text.as_bytes().to_vec());
        assert_eq!(
            link.next_reply(),
            Some(Ok(Value::Array(vec![
                bulk("master"),
                Value::Int(42),
                Value::Array(vec![Value::Array(vec![bulk("127.0.0.1"), bulk("6380"), bulk("42")])]),
            ])))
        );
        assert_eq!(
            link.next_reply(),
            Some(Ok(Value::Array(vec![
                bulk("slave"),
                bulk("127.0.0.1"),
                Value::Int(6379),
                bulk("connected"),
                Value::Int(42)
            ])))
        );
        // Any array that starts with a bulk string is read whole.
        let (mut link, mut redis) = paired_link();
        redis.write_all(b"*1\r\n$1\r\nx\r\n").expect("write");
        link.fill().expect("fill");
        assert_eq!(link.next_reply(), Some(Ok(Value::Array(vec![bulk("x")]))));
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
            link.waiting.push_back(Waiting {
                awaits: Awaits::Claim(ticket),
                deadline: Instant::now(),
                packed: Vec::new(),
            });
        }
        redis.write_all(b"+OK\r\n$-1\r\n+PONG\r\n").expect("write");
        let mut answered = Vec::new();
        let reply = link.call(b"PING\r\n", Instant::now() + Duration::from_secs(5), &mut answered);
        assert_eq!(reply, Ok(Value::SimpleString("PONG".into())));
        assert_eq!(answered, vec![(7, false, Ok(Value::Okay)), (8, false, Ok(Value::Nil))]);
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
}
