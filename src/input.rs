//! Reading standard input within a deadline, for the extauth loop, kept
//! apart from the pure scheme.
//!
//! Lua's own `io.read` either blocks until a whole count of bytes arrived
//! or, unbuffered, costs one system call per byte; neither lets a helper
//! read everything that is there at once (fast) and still notice a frame
//! that stays incomplete (exact). One `poll(2)` + one `read(2)` does both.

use std::io;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use crate::{os, poll};

/// How often a wait looks for a reason to stop ([`os::stop_requested`]):
/// a stop signal or the parent's death is acted on within this.
const TICK: Duration = Duration::from_millis(200);

/// What one read found.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk {
    /// Bytes that were available (at least one).
    Data(Vec<u8>),
    /// Nothing arrived within the timeout.
    Timeout,
    /// End of input, or the terminal hung up.
    Eof,
    /// Asked to stop while waiting (after [`os::watch`]).
    Stopped(os::Stop),
}

/// Reads up to `max` bytes that are available on standard input, waiting
/// at most `timeout` (for ever with `None`) for the first one.
///
/// Standard input is polled once more, without waiting, before a timeout
/// is reported: a process that was stopped (SIGSTOP, a paused VM) past
/// its deadline while the bytes arrived reads them instead of timing out.
/// Once [`os::watch`] ran, a wait also ends with [`Chunk::Stopped`] when a
/// reason to stop comes up (looked at every [`TICK`]). A terminal that hung
/// up (`EIO`) is the end of input.
///
/// # Errors
/// The operating system's error when polling or reading fails (other
/// than an interrupted call, which is retried).
pub fn read(max: usize, timeout: Option<Duration>) -> io::Result<Chunk> {
    let stdin = io::stdin();
    let fd = stdin.as_fd();
    // A timeout too long to add to now waits for ever.
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        if let Some(stop) = os::stop_requested() {
            return Ok(Chunk::Stopped(stop));
        }
        let now = Instant::now();
        let tick = now.checked_add(TICK).unwrap_or(now);
        let wait = deadline.map_or(tick, |deadline| deadline.min(tick));
        if poll::ready(fd, rustix::event::PollFlags::IN, Some(wait))? {
            break;
        }
        if deadline.is_some_and(|deadline| wait >= deadline) {
            return Ok(Chunk::Timeout);
        }
    }
    let mut buffer = vec![0u8; max.max(1)];
    loop {
        match rustix::io::read(fd, &mut buffer[..]) {
            Ok(0) | Err(rustix::io::Errno::IO) => return Ok(Chunk::Eof),
            Ok(n) => {
                buffer.truncate(n);
                return Ok(Chunk::Data(buffer));
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(err) => return Err(err.into()),
        }
    }
}
