//! The socket layer: a TCP or Unix connection to Redis, started without
//! waiting (the connect completes while the caller does other work) and
//! non-blocking from the start; waited on, where a caller must wait, with
//! [`crate::poll::ready`].

use std::io;
use std::net::ToSocketAddrs;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Instant;

use redis::ConnectionAddr;
use rustix::event::PollFlags;
use socket2::{Domain, SockAddr, Socket as Inner, Type};

use super::Failure;
use crate::poll;

/// A non-blocking stream socket to Redis, TCP or Unix.
pub(super) struct Socket {
    inner: Inner,
    /// The connect has not completed yet (TCP's handshake in flight).
    connecting: bool,
}

fn in_progress(err: &io::Error) -> bool {
    err.raw_os_error() == Some(rustix::io::Errno::INPROGRESS.raw_os_error())
}

impl Socket {
    /// Starts connecting and returns at once: a TCP handshake goes on in
    /// the kernel ([`Self::connected`] tells when it is done). A Unix
    /// socket connects at once or fails at once (a Redis whose backlog is
    /// full, having stopped accepting, is "timed out").
    ///
    /// An address literal resolves without a lookup; a host name is looked
    /// up by the system resolver, which may wait: use an address.
    pub(super) fn start(addr: &ConnectionAddr) -> Result<Socket, Failure> {
        match addr {
            ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
                let mut last = Failure::Refused;
                for address in (host.as_str(), *port).to_socket_addrs()? {
                    let inner = Inner::new(Domain::for_address(address), Type::STREAM, None)?;
                    inner.set_nonblocking(true)?;
                    // One small request, one small answer: no reason to let
                    // Nagle wait.
                    inner.set_tcp_nodelay(true)?;
                    match inner.connect(&address.into()) {
                        Ok(()) => return Ok(Socket { inner, connecting: false }),
                        Err(err) if in_progress(&err) => return Ok(Socket { inner, connecting: true }),
                        Err(err) => last = err.into(),
                    }
                }
                Err(last)
            }
            ConnectionAddr::Unix(path) => {
                let inner = Inner::new(Domain::UNIX, Type::STREAM, None)?;
                inner.set_nonblocking(true)?;
                inner.connect(&SockAddr::unix(path)?)?;
                Ok(Socket { inner, connecting: false })
            }
            _ => Err(Failure::Io(io::ErrorKind::Unsupported)),
        }
    }

    /// A connected socket (one end of a pair, in tests).
    #[cfg(test)]
    pub(super) fn from_stream(stream: std::os::unix::net::UnixStream) -> Socket {
        stream.set_nonblocking(true).expect("non-blocking");
        Socket { inner: Inner::from(std::os::fd::OwnedFd::from(stream)), connecting: false }
    }

    /// Whether the connect has completed, checked without waiting: `Ok(false)`
    /// while the handshake is in flight, the connect's error if it failed.
    pub(super) fn connected(&mut self) -> Result<bool, Failure> {
        if !self.connecting {
            return Ok(true);
        }
        if !poll::ready(self.fd(), PollFlags::OUT, Some(Instant::now()))? {
            return Ok(false);
        }
        if let Some(err) = self.inner.take_error()? {
            return Err(err.into());
        }
        self.connecting = false;
        Ok(true)
    }

    /// Whether the connect is still in flight.
    pub(super) fn connecting(&self) -> bool {
        self.connecting
    }

    pub(super) fn fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }

    /// Waits up to `deadline` for the socket to become readable, or
    /// writable too when `writable`, as [`poll::ready`] does.
    pub(super) fn wait(&self, writable: bool, deadline: Instant) -> Result<(), Failure> {
        let flags = if writable { PollFlags::IN | PollFlags::OUT } else { PollFlags::IN };
        if poll::ready(self.fd(), flags, Some(deadline))? {
            Ok(())
        } else {
            Err(Failure::TimedOut)
        }
    }

    pub(super) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        io::Read::read(&mut self.inner, buf)
    }

    pub(super) fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        io::Write::write(&mut self.inner, buf)
    }
}
