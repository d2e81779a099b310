//! Waiting for a descriptor to become ready, within a deadline: the one
//! way the crate waits, for standard input (the extauth loop) and for the
//! Redis replay store's socket.

use std::io;
use std::os::fd::BorrowedFd;
use std::time::Instant;

use rustix::event::{PollFd, PollFlags, Timespec};

/// Waits until `fd` is ready for `flags` or `deadline` passes (for ever
/// with `None`): `true` when ready, `false` on timeout. An interrupted
/// wait goes on with the time left.
///
/// Polled once more, without waiting, before a timeout is reported: a
/// process that was stopped (SIGSTOP, a paused VM) past its deadline while
/// the bytes arrived takes them instead of timing out.
///
/// # Errors
/// The operating system's error when polling fails.
pub fn ready(fd: BorrowedFd<'_>, flags: PollFlags, deadline: Option<Instant>) -> io::Result<bool> {
    let mut last_chance = false;
    loop {
        let wait = match deadline {
            _ if last_chance => Some(Timespec { tv_sec: 0, tv_nsec: 0 }),
            None => None,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                Some(Timespec {
                    tv_sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
                    tv_nsec: i64::from(left.subsec_nanos()),
                })
            }
        };
        let mut fds = [PollFd::new(&fd, flags)];
        match rustix::event::poll(&mut fds, wait.as_ref()) {
            Ok(0) if last_chance => return Ok(false),
            Ok(0) => last_chance = true,
            Ok(_) => return Ok(true),
            Err(rustix::io::Errno::INTR) => {}
            Err(err) => return Err(err.into()),
        }
    }
}
