//! OctoPrint's VirtualPrinter, a Marlin simulator nobody on this project wrote, served on a
//! real pty by `tests/fixtures/octoprint/virtual_marlin.py` from the venv `scripts/test`
//! installs (`scripts/octoprint-venv`), with every move it executes written down.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use crate::target_dir;

/// One running simulator; stopped (its stdin closed, then killed) when dropped.
pub struct OctoPrintMarlin {
    child: Child,
    stdin: Option<ChildStdin>,
    /// The symlink to the pty's slave: a printer's `port`.
    pub link: PathBuf,
    moves: PathBuf,
    _dir: tempfile::TempDir,
}

impl OctoPrintMarlin {
    /// Starts the simulator with OctoPrint's default settings overridden by `settings`
    /// (`{"okFormatString": "ok N{lastN} P15 B{buffer}", "simulated_errors": [...]}`), and
    /// waits until its pty exists.
    pub fn start(settings: &serde_json::Value) -> OctoPrintMarlin {
        let python = target_dir().join("octoprint-venv/bin/python");
        assert!(
            python.is_file(),
            "{} is missing: run scripts/test (scripts/octoprint-venv installs OctoPrint)",
            python.display()
        );
        let script = target_dir()
            .parent()
            .expect("target/ has a parent")
            .join("tests/fixtures/octoprint/virtual_marlin.py");
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("ttyOCTO0");
        let moves = dir.path().join("moves.txt");
        let mut child = Command::new(&python)
            .arg(&script)
            .arg("--link")
            .arg(&link)
            .arg("--moves")
            .arg(&moves)
            .arg("--settings")
            .arg(settings.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
        let mut ready = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut ready)
            .unwrap();
        assert_eq!(ready.trim(), "ready", "the simulator did not start");
        OctoPrintMarlin {
            stdin: child.stdin.take(),
            child,
            link,
            moves,
            _dir: dir,
        }
    }

    /// The moves executed so far, in order, as the simulator received them (no `N`, no
    /// checksum).
    pub fn moves(&self) -> Vec<String> {
        read_lines(&self.moves)
    }
}

fn read_lines(path: &Path) -> Vec<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => text.lines().map(str::to_owned).collect(),
        Err(_) => Vec::new(),
    }
}

impl Drop for OctoPrintMarlin {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
