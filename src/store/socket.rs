//! The socket layer: a TCP or Unix connection to Redis, started without
//! waiting (the connect completes while the caller does other work) and
//! non-blocking from the start, TLS over it for `rediss://` (rustls, its
//! records read and written as the socket allows); waited on, where a
//! caller must wait, with [`crate::poll::ready`].

use std::io;
use std::net::ToSocketAddrs;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Instant;

use redis::ConnectionAddr;
use rustix::event::PollFlags;
use rustls::ClientConnection;
use socket2::{Domain, SockAddr, Socket as Inner, Type};

use super::tls::Tls;
use super::Failure;
use crate::poll;

/// A non-blocking stream socket to Redis, TCP or Unix, with TLS or not.
pub(super) struct Socket {
    inner: Inner,
    /// The connect has not completed yet (TCP's handshake in flight).
    connecting: bool,
    /// TLS over the socket: the handshake starts once connected, and
    /// what is written before it completes waits in rustls.
    tls: Option<Box<ClientConnection>>,
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
    pub(super) fn start(addr: &ConnectionAddr, tls: Option<&Tls>) -> Result<Socket, Failure> {
        let mut socket = Socket::plain(addr)?;
        if let Some(tls) = tls {
            let connection =
                ClientConnection::new(tls.config.clone(), tls.server_name.clone()).map_err(io::Error::other)?;
            socket.tls = Some(Box::new(connection));
        }
        Ok(socket)
    }

    fn plain(addr: &ConnectionAddr) -> Result<Socket, Failure> {
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
                        Ok(()) => return Ok(Socket { inner, connecting: false, tls: None }),
                        Err(err) if in_progress(&err) => return Ok(Socket { inner, connecting: true, tls: None }),
                        Err(err) => last = err.into(),
                    }
                }
                Err(last)
            }
            ConnectionAddr::Unix(path) => {
                let inner = Inner::new(Domain::UNIX, Type::STREAM, None)?;
                inner.set_nonblocking(true)?;
                inner.connect(&SockAddr::unix(path)?)?;
                Ok(Socket { inner, connecting: false, tls: None })
            }
            _ => Err(Failure::Io(io::ErrorKind::Unsupported)),
        }
    }

    /// A connected socket (one end of a pair, in tests).
    #[cfg(test)]
    pub(super) fn from_stream(stream: std::os::unix::net::UnixStream) -> Socket {
        stream.set_nonblocking(true).expect("non-blocking");
        Socket { inner: Inner::from(std::os::fd::OwnedFd::from(stream)), connecting: false, tls: None }
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

    /// Whether TLS has records to write (the handshake's, or data).
    pub(super) fn tls_pending(&self) -> bool {
        self.tls.as_ref().is_some_and(|tls| tls.wants_write())
    }

    /// Writes TLS records until the socket takes no more.
    fn push_tls(&mut self) -> io::Result<()> {
        let Some(tls) = self.tls.as_mut() else {
            return Ok(());
        };
        while tls.wants_write() {
            match tls.write_tls(&mut self.inner) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    /// Reads the TLS records the socket holds and processes them (a
    /// certificate that does not verify fails here, as an error holding
    /// rustls' own), then writes what the handshake has to answer.
    fn pull_tls(&mut self) -> io::Result<()> {
        let Some(tls) = self.tls.as_mut() else {
            return Ok(());
        };
        loop {
            match tls.read_tls(&mut self.inner) {
                Ok(0) => break, // the end: rustls' reader tells how it ended
                Ok(_) => {
                    tls.process_new_packets().map_err(io::Error::other)?;
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        self.push_tls()
    }

    /// Reads plaintext, as a non-blocking socket does (`WouldBlock` when
    /// nothing is there yet, `Ok(0)` at the end of the stream).
    pub(super) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.tls.is_none() {
            return io::Read::read(&mut self.inner, buf);
        }
        self.pull_tls()?;
        match self.tls.as_mut() {
            Some(tls) => io::Read::read(&mut tls.reader(), buf),
            None => Ok(0),
        }
    }

    /// Writes plaintext, as a non-blocking socket does (with TLS, rustls
    /// takes all of it, and the socket the records it can take now).
    pub(super) fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(tls) = self.tls.as_mut() else {
            return io::Write::write(&mut self.inner, buf);
        };
        let n = io::Write::write(&mut tls.writer(), buf)?;
        self.push_tls()?;
        Ok(n)
    }

    /// Writes pending TLS records (the handshake's), as the socket allows.
    pub(super) fn flush_tls(&mut self) -> io::Result<()> {
        self.push_tls()
    }
}
