//! A firmware written by the test, line by line, on a real pty: for the exact sequences of
//! replies (a lost `ok` at one given moment, a dropped repeat) that the simulator's fault plan
//! cannot aim at.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};

/// The firmware side of a pty: the lines the host wrote, and a way to answer them.
pub(crate) struct ScriptedPort {
    /// The path the host opens (a symlink to the pty's slave).
    pub link: PathBuf,
    writer: std::fs::File,
    lines: mpsc::Receiver<String>,
    /// Held open so the host closing its side is no hang-up for us.
    _slave: OwnedFd,
}

impl ScriptedPort {
    /// A raw pty linked as `dir/name`, with a thread reading what the host writes.
    pub(crate) fn open(dir: &Path, name: &str) -> ScriptedPort {
        let pair = nix::pty::openpty(None, None).expect("openpty");
        let mut termios = tcgetattr(&pair.slave).expect("tcgetattr");
        cfmakeraw(&mut termios);
        tcsetattr(&pair.slave, SetArg::TCSANOW, &termios).expect("tcsetattr");
        let path = nix::unistd::ttyname(&pair.slave).expect("ttyname");
        let link = dir.join(name);
        std::os::unix::fs::symlink(path, &link).expect("symlink");
        let master = std::fs::File::from(pair.master);
        let mut reader = master.try_clone().expect("dup master");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            let mut pending = Vec::new();
            let mut buffer = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                pending.extend_from_slice(&buffer[..n]);
                while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                    let line = String::from_utf8_lossy(&pending[..end]).trim().to_string();
                    pending.drain(..=end);
                    if sender.send(line).is_err() {
                        return;
                    }
                }
            }
        });
        ScriptedPort {
            link,
            writer: master,
            lines,
            _slave: pair.slave,
        }
    }

    /// The next line the host wrote, or `None` if none came within `timeout`.
    pub(crate) fn next_line(&self, timeout: Duration) -> Option<String> {
        self.lines.recv_timeout(timeout).ok()
    }

    /// Writes one reply line.
    pub(crate) fn say(&mut self, text: &str) {
        self.writer
            .write_all(format!("{text}\n").as_bytes())
            .expect("write to the pty");
    }
}
