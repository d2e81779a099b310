//! The extauth helper's dealings with the operating system, apart from
//! the pure scheme: which channel standard error shares, a terminal on
//! standard input made raw and restored, inherited descriptors closed,
//! the parent and the stop signals watched, and syslog.
//!
//! A host may start the helper on pipes (ejabberd) or with standard input,
//! output and error all on one pseudo-terminal (Prosody's lpty): the
//! helper must answer exactly on both.

use std::io;
use std::os::fd::{AsFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, OnceLock};

use rustix::fs::FileType;
use rustix::termios::{self, OptionalActions, Termios};

/// Why the helper was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGTERM, SIGHUP or SIGINT arrived.
    Signal,
    /// The process that started the helper is gone.
    ParentGone,
}

/// Set by the stop signals once [`watch`] has registered them.
static STOP_SIGNAL: OnceLock<Arc<AtomicBool>> = OnceLock::new();
/// Whether [`watch`] ran.
static WATCHING: AtomicBool = AtomicBool::new(false);
/// The parent's PID when [`watch`] ran (0 for none).
static PARENT: AtomicI32 = AtomicI32::new(0);

fn parent_pid() -> i32 {
    rustix::process::getppid().map_or(0, |pid| pid.as_raw_nonzero().get())
}

/// Whether two descriptors are one channel: the same open file, pipe or
/// socket (device and inode), or the same terminal device however it was
/// opened.
///
/// # Errors
/// The operating system's error when either cannot be examined (`fstat`).
pub fn same_channel(a: impl AsFd, b: impl AsFd) -> io::Result<bool> {
    let (a, b) = (rustix::fs::fstat(a)?, rustix::fs::fstat(b)?);
    if a.st_dev == b.st_dev && a.st_ino == b.st_ino {
        return Ok(true);
    }
    let is_device = |mode| FileType::from_raw_mode(mode) == FileType::CharacterDevice;
    Ok(is_device(a.st_mode) && is_device(b.st_mode) && a.st_rdev == b.st_rdev)
}

/// Whether standard error is the channel standard output answers on.
///
/// # Errors
/// As [`same_channel`].
pub fn stderr_is_stdout() -> io::Result<bool> {
    same_channel(io::stdout(), io::stderr())
}

/// A terminal on standard input made raw, with the settings to put back.
#[derive(Debug)]
pub struct RawTerminal {
    saved: Termios,
}

/// Makes a terminal on standard input raw, at once (`TCSANOW`: bytes
/// already waiting stay, where `TCSAFLUSH` would drop a request): no echo,
/// no signal characters, no CR/LF translation either way (`OPOST` off),
/// no line buffering and so no line-length limit, 8-bit bytes, one byte
/// enough for a read. `None` when standard input is not a terminal.
///
/// # Errors
/// The operating system's error when the terminal's settings cannot be
/// read or set.
pub fn make_stdin_raw() -> io::Result<Option<RawTerminal>> {
    let stdin = io::stdin();
    if !termios::isatty(stdin.as_fd()) {
        return Ok(None);
    }
    let saved = termios::tcgetattr(stdin.as_fd())?;
    let mut raw = saved.clone();
    raw.make_raw();
    termios::tcsetattr(stdin.as_fd(), OptionalActions::Now, &raw)?;
    Ok(Some(RawTerminal { saved }))
}

impl RawTerminal {
    /// Puts the terminal's settings back as they were.
    ///
    /// # Errors
    /// The operating system's error, e.g. when the terminal hung up.
    pub fn restore(&self) -> io::Result<()> {
        Ok(termios::tcsetattr(io::stdin().as_fd(), OptionalActions::Now, &self.saved)?)
    }
}

/// Closes every descriptor above standard error (read from
/// `/proc/self/fd`): what the helper inherited and does not own, such as
/// the master end of the terminal it was started on, which would keep its
/// own input open after the host is gone. Call it before opening anything.
/// Returns how many were closed.
///
/// # Errors
/// The operating system's error when `/proc/self/fd` cannot be listed.
pub fn close_inherited() -> io::Result<usize> {
    let mut numbers: Vec<RawFd> = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd")? {
        let name = entry?.file_name();
        if let Some(fd) = name.to_str().and_then(|name| name.parse::<RawFd>().ok()) {
            if fd > 2 {
                numbers.push(fd);
            }
        }
    }
    // The listing's own descriptor is among them, closed already (EBADF).
    Ok(numbers.into_iter().filter(|&fd| nix::unistd::close(fd).is_ok()).count())
}

/// Watches for a reason to stop: SIGTERM, SIGHUP and SIGINT set a flag
/// instead of ending the process (so the terminal is restored on the way
/// out), and the parent's PID is noted: when it changes, the process that
/// started the helper is gone. [`stop_requested`] then tells.
///
/// Not `PR_SET_PDEATHSIG`: it fires when the parent *thread* that forked
/// ends, which in a multi-threaded host need not be the host's end.
///
/// # Errors
/// The operating system's error when a handler cannot be registered.
pub fn watch() -> io::Result<()> {
    let flag = STOP_SIGNAL.get_or_init(|| Arc::new(AtomicBool::new(false)));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGHUP, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(flag))?;
    }
    PARENT.store(parent_pid(), Ordering::SeqCst);
    WATCHING.store(true, Ordering::SeqCst);
    Ok(())
}

/// Why the helper should stop, if it should; `None` also before [`watch`].
#[must_use]
pub fn stop_requested() -> Option<Stop> {
    if !WATCHING.load(Ordering::SeqCst) {
        return None;
    }
    if STOP_SIGNAL.get().is_some_and(|flag| flag.load(Ordering::SeqCst)) {
        return Some(Stop::Signal);
    }
    (parent_pid() != PARENT.load(Ordering::SeqCst)).then_some(Stop::ParentGone)
}

/// How a line goes to syslog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// A refusal or a note.
    Info,
    /// Something the operator should fix.
    Warning,
    /// The helper stops.
    Error,
}

/// Opens syslog for `ident` (facility `auth`, with the PID).
///
/// # Errors
/// When syslog cannot be opened.
pub fn syslog_open(ident: &'static std::ffi::CStr) -> io::Result<()> {
    use nix::syslog::{openlog, Facility, LogFlags};
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let ident = Some(ident);
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let ident = Some(ident.to_str().unwrap_or("token-auth"));
    openlog(ident, LogFlags::LOG_PID, Facility::LOG_AUTH).map_err(io::Error::from)
}

/// Sends one line to syslog (opened or not: the C library opens it
/// itself). A line with a NUL byte is cut there.
///
/// # Errors
/// When the C library refuses the line.
pub fn syslog(severity: Severity, line: &[u8]) -> io::Result<()> {
    use nix::syslog::{syslog, Severity as Level};
    let level = match severity {
        Severity::Info => Level::LOG_INFO,
        Severity::Warning => Level::LOG_WARNING,
        Severity::Error => Level::LOG_ERR,
    };
    let line = line.split(|&byte| byte == 0).next().unwrap_or_default();
    let text = String::from_utf8_lossy(line);
    syslog(level, text.as_ref()).map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_descriptor_is_its_own_channel_and_a_pipe_end_is_not_a_file() {
        let file = std::fs::File::open("/proc/self/stat").expect("a readable file");
        let again = file.try_clone().expect("dup");
        assert!(same_channel(&file, &again).expect("fstat"));
        let (reader, writer) = std::io::pipe().expect("a pipe");
        assert!(same_channel(&reader, &writer).expect("fstat"));
        assert!(!same_channel(&file, &reader).expect("fstat"));
    }

    #[test]
    fn nothing_asks_to_stop_before_watching() {
        assert_eq!(stop_requested(), None);
    }
}
