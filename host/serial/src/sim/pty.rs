//! OS plumbing: the pseudo-terminal, the symlink that names it, the wake-up pipe, ppoll.

use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};

/// A pseudo-terminal pair. The host opens the slave by its path; the firmware thread reads
/// and writes the master.
///
/// The simulator keeps its own slave descriptor open for the pty's whole life: the master
/// then never sees a hang-up when the host closes the port (so the host can reopen it, and
/// replies written meanwhile wait in the tty buffer), and dropping both descriptors is a
/// faithful unplug — the host reads EOF, writes fail with EIO, `/dev/pts/N` disappears.
#[derive(Debug)]
pub(super) struct Pty {
    pub(super) master: OwnedFd,
    slave: OwnedFd,
    path: PathBuf,
}

impl Pty {
    /// A new raw pty with a non-blocking master.
    pub(super) fn open() -> io::Result<Pty> {
        let pair = nix::pty::openpty(None::<&nix::pty::Winsize>, None::<&Termios>)?;
        for fd in [&pair.master, &pair.slave] {
            fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
        }
        // Raw before the host opens it: no echo, no line editing, no CR/LF translation, so
        // `start` written now reaches the host as it was written.
        let mut termios = tcgetattr(&pair.slave)?;
        cfmakeraw(&mut termios);
        tcsetattr(&pair.slave, SetArg::TCSANOW, &termios)?;
        let flags = OFlag::from_bits_truncate(fcntl(&pair.master, FcntlArg::F_GETFL)?);
        fcntl(&pair.master, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
        let path = nix::unistd::ttyname(&pair.slave)?;
        Ok(Pty {
            master: pair.master,
            slave: pair.slave,
            path,
        })
    }

    /// `/dev/pts/N`.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Clears TIOCEXCL, which serial libraries set on open. On a real port it goes away when
    /// the port is closed; here the pty outlives the host's descriptor, so without this a
    /// host that closes and reopens the port would get EBUSY (unless it is root).
    pub(super) fn clear_exclusive(&self) {
        // SAFETY: TIOCNXCL takes no argument and only changes a flag of our own tty.
        unsafe {
            libc::ioctl(self.slave.as_raw_fd(), libc::TIOCNXCL);
        }
    }
}

/// Points the symlink `link` at `target`, creating parent directories. An existing link is
/// replaced atomically (a temporary link renamed over it), so a host never sees it missing.
pub(super) fn point_link(link: &Path, target: &Path) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    if let Some(parent) = link.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let name = link.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the link path has no file name",
        )
    })?;
    let mut temporary = std::ffi::OsString::from(".");
    temporary.push(name);
    temporary.push(format!(
        ".{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let temporary = link.with_file_name(temporary);
    let _ = std::fs::remove_file(&temporary);
    std::os::unix::fs::symlink(target, &temporary)?;
    std::fs::rename(&temporary, link).inspect_err(|_| {
        let _ = std::fs::remove_file(&temporary);
    })
}

/// A non-blocking pipe: the API side writes a byte to wake the firmware thread.
pub(super) fn wake_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both descriptors are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Wakes the thread polling the pipe's read end.
pub(super) fn wake(pipe: &impl AsFd) {
    // A full pipe already means "wake up"; nothing else can go wrong that matters.
    let _ = nix::unistd::write(pipe, &[1]);
}

/// Empties the pipe's read end.
pub(super) fn drain(pipe: &impl AsFd) {
    let mut buf = [0u8; 64];
    while matches!(nix::unistd::read(pipe, &mut buf), Ok(n) if n == buf.len()) {}
}

/// poll(2) with a nanosecond timeout (`None` waits forever); EINTR is a normal return.
pub(super) fn ppoll(fds: &mut [libc::pollfd], timeout: Option<Duration>) -> io::Result<()> {
    let spec = timeout.map(|t| libc::timespec {
        tv_sec: libc::time_t::try_from(t.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(t.subsec_nanos() as i32),
    });
    let spec_ptr = spec
        .as_ref()
        .map_or(std::ptr::null(), |s| s as *const libc::timespec);
    // SAFETY: `fds` is a valid slice of pollfd, `spec_ptr` null or pointing at a live
    // timespec, and a null signal mask leaves the mask unchanged.
    let r = unsafe {
        libc::ppoll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            spec_ptr,
            std::ptr::null(),
        )
    };
    if r < 0 {
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
    Ok(())
}
