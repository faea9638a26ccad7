//! The serial line to a printer: opening a device (a USB printer, a stable symlink to one, or a
//! virtual printer's pty) and reading and writing it on tokio.
//!
//! The port is tuned for what streaming G-code does to a tty, one short line out and one short
//! reply back, thousands of times a second per printer:
//! - it is registered for reading only. A tty signals "writable" again every time its output
//!   drains, twice per line, and each of those signals would wake the runtime's thread for
//!   nothing. Writes go straight to the non-blocking fd; only when the tty refuses bytes is a
//!   second, temporary registration made to wait for room;
//! - a read that returns less than was asked for marks the port not readable: the tty had
//!   nothing more, so the next read waits for the reactor instead of asking the kernel once
//!   more only to hear "would block" (on a tty that read first waits for the input worker).

use std::io::{self, Read as _, Write as _};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

/// An open serial port, registered with tokio's reactor for reading.
#[derive(Debug)]
pub struct Port {
    inner: AsyncFd<mio_serial::SerialStream>,
    /// A duplicate of the port's fd registered for writability, only while a write waits for
    /// room.
    waiting_write: Option<AsyncFd<OwnedFd>>,
}

/// Opens `path` at `baud`, 8N1, no flow control, for exclusive use (a second host opening the
/// same printer would interleave lines).
pub fn open(path: &Path, baud: u32) -> io::Result<Port> {
    let builder = mio_serial::new(path.to_string_lossy(), baud)
        .data_bits(mio_serial::DataBits::Eight)
        .parity(mio_serial::Parity::None)
        .stop_bits(mio_serial::StopBits::One)
        .flow_control(mio_serial::FlowControl::None);
    let stream = mio_serial::SerialStream::open(&builder).map_err(io::Error::from)?;
    // SAFETY: the stream owns its fd, closes it only when dropped (which the AsyncFd does), and
    // `as_raw_fd` always returns that same fd.
    let inner = unsafe { AsyncFd::register_with_interest(stream, Interest::READABLE) }
        .map_err(|e| e.into_parts().1)?;
    Ok(Port {
        inner,
        waiting_write: None,
    })
}

impl Port {
    /// Writes what the port takes right now without waiting: `WouldBlock` when it takes nothing.
    /// For best-effort bytes outside the async flow (heaters off when the session ends) and for
    /// the common case where the tty takes a whole window at once.
    pub fn try_write(&self, bytes: &[u8]) -> io::Result<usize> {
        self.inner.get_ref().write(bytes)
    }

    /// [`try_write`](Port::try_write) until every byte is written or the port refuses more.
    pub fn try_write_all(&self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            match self.try_write(bytes)? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => bytes = &bytes[n..],
            }
        }
        Ok(())
    }

    /// The registration that waits for room to write, made on first need.
    fn write_registration(&mut self) -> io::Result<&AsyncFd<OwnedFd>> {
        if self.waiting_write.is_none() {
            let fd = self.inner.get_ref().as_raw_fd();
            // SAFETY: `fd` is open for as long as `self.inner` lives, and this borrow ends here.
            let duplicate = unsafe { BorrowedFd::borrow_raw(fd) }.try_clone_to_owned()?;
            // epoll tells registrations of two fds apart even when they share one open file, so
            // this one does not disturb the read registration. SAFETY: the OwnedFd owns the fd.
            let registration =
                unsafe { AsyncFd::register_with_interest(duplicate, Interest::WRITABLE) }
                    .map_err(|e| e.into_parts().1)?;
            self.waiting_write = Some(registration);
        }
        Ok(self.waiting_write.as_ref().expect("registered above"))
    }
}

impl AsyncRead for Port {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.inner.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            let wanted = unfilled.len();
            match guard.try_io(|inner| inner.get_ref().read(unfilled)) {
                Ok(Ok(n)) => {
                    // A short read drained the tty. Clearing only forgets the readiness event
                    // this read answered: data that arrives meanwhile raises a new one.
                    if n > 0 && n < wanted {
                        guard.clear_ready();
                    }
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(error)) => return Poll::Ready(Err(error)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for Port {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            match this.try_write(bytes) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                done => {
                    // Room again: stop hearing about it.
                    this.waiting_write = None;
                    return Poll::Ready(done);
                }
            }
            // A new registration reports the tty's state at once, so room that appeared
            // since the refused write is not missed.
            let mut guard = ready!(this.write_registration()?.poll_write_ready(cx))?;
            guard.clear_ready();
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // tcdrain: the bytes have left the host.
        Poll::Ready(self.inner.get_ref().flush())
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A raw pty whose slave `open` takes by path, like a USB port; the test holds the master.
    fn pty() -> (std::fs::File, std::path::PathBuf) {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        let pair = nix::pty::openpty(None, None).expect("openpty");
        let mut termios = tcgetattr(&pair.slave).expect("tcgetattr");
        cfmakeraw(&mut termios);
        tcsetattr(&pair.slave, SetArg::TCSANOW, &termios).expect("tcsetattr");
        let path = nix::unistd::ttyname(&pair.slave).expect("ttyname");
        // The slave fd is dropped here; the master keeps the pty alive.
        (std::fs::File::from(pair.master), path)
    }

    #[tokio::test]
    async fn a_write_larger_than_the_tty_waits_for_room_and_loses_nothing() {
        let (mut master, path) = pty();
        let mut port = super::open(&path, 115_200).expect("open");
        // Far more than a tty buffers: the write must wait until the other side reads.
        let sent: Vec<u8> = (0..512 * 1024).map(|i| (i % 251) as u8).collect();
        let reader = std::thread::spawn(move || {
            // Let the writer hit a full tty first.
            std::thread::sleep(Duration::from_millis(200));
            let mut got = vec![0u8; 512 * 1024];
            master.read_exact(&mut got).expect("read what was written");
            (master, got)
        });
        tokio::time::timeout(Duration::from_secs(20), port.write_all(&sent))
            .await
            .expect("the write finished once the reader drained the tty")
            .expect("write");
        assert!(
            port.waiting_write.is_none(),
            "the write registration is dropped once the tty takes bytes again"
        );
        let (_master, got) = reader.join().expect("reader");
        assert!(got == sent, "the bytes arrived whole and in order");
    }

    #[tokio::test]
    async fn replies_are_read_as_they_arrive() {
        use std::io::Write as _;
        let (mut master, path) = pty();
        let mut port = super::open(&path, 115_200).expect("open");
        let mut buffer = [0u8; 64];
        for reply in ["start\n", "ok\n", "ok T:210.0 /210.0\n"] {
            master.write_all(reply.as_bytes()).expect("write reply");
            let mut got = Vec::new();
            while got.len() < reply.len() {
                let n = tokio::time::timeout(Duration::from_secs(5), port.read(&mut buffer))
                    .await
                    .expect("a reply that was written is read, not waited for")
                    .expect("read");
                got.extend_from_slice(&buffer[..n]);
            }
            assert_eq!(got, reply.as_bytes());
        }
        // Nothing more was written: the next read waits (the short reads cleared readiness,
        // and that must not lose the data above or stall on data that does come).
        assert!(
            tokio::time::timeout(Duration::from_millis(100), port.read(&mut buffer))
                .await
                .is_err(),
            "no data, no read"
        );
        master.write_all(b"ok\n").expect("write");
        let n = tokio::time::timeout(Duration::from_secs(5), port.read(&mut buffer))
            .await
            .expect("data after an idle wait is read")
            .expect("read");
        assert_eq!(&buffer[..n], b"ok\n");
    }
}
