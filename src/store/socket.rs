//! The socket layer: a TCP or Unix connection to Redis, made within the
//! connect timeout, non-blocking once connected, and waited on with
//! [`crate::poll::ready`].

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use redis::ConnectionAddr;

use super::Failure;
use crate::poll;

/// The socket, TCP or Unix, non-blocking once connected.
pub(super) enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Socket {
    pub(super) fn connect(addr: &ConnectionAddr, timeout: Duration) -> Result<Socket, Failure> {
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

    pub(super) fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Socket::Tcp(stream) => stream.as_fd(),
            Socket::Unix(stream) => stream.as_fd(),
        }
    }

    /// Waits up to `deadline` for the socket to become readable (or
    /// writable), as [`poll::ready`] does.
    pub(super) fn wait(&self, writable: bool, deadline: Instant) -> Result<(), Failure> {
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
