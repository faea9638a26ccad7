//! Shared by the engine's integration tests: G-code files, a virtual printer on a real pty, and
//! a supervised printer driving it.
#![allow(dead_code)]

pub(crate) mod scripted;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use printfarm_serial::engine::{gcode_lines, EngineConfig, Progress};
use printfarm_serial::sim::{SimConfig, VirtualPrinter};
use printfarm_serial::supervisor::{
    PrintPhase, Printer, PrinterEvent, PrinterSettings, PrinterState, PrinterStatus,
};
use tokio::sync::broadcast;

/// Commands the engine sends for itself; everything else a printer executes came from the file
/// or from the test.
const HOUSEKEEPING: &[&str] = &["M110", "M115", "M155", "M105"];

/// A test's printer: the simulated firmware and the supervised engine talking to it.
pub(crate) struct Rig {
    pub dir: tempfile::TempDir,
    pub sim: VirtualPrinter,
    pub printer: Printer,
    pub events: broadcast::Receiver<PrinterEvent>,
}

/// Engine settings for tests: short timeouts so lost `ok`s are recovered quickly.
pub(crate) fn engine_config(port: &Path) -> EngineConfig {
    let mut config = EngineConfig::new(port, 250_000);
    config.ack_timeout = Duration::from_millis(300);
    config.boot_wait = Duration::from_millis(300);
    config
}

impl Rig {
    /// A virtual printer with `sim` settings and a supervisor with auto-connect, connected.
    pub(crate) async fn start(sim: SimConfig, tune: impl FnOnce(&mut EngineConfig)) -> Rig {
        init_tracing();
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("ttyVIRTUAL0");
        let sim = VirtualPrinter::start(&link, sim).unwrap();
        let mut engine = engine_config(&link);
        tune(&mut engine);
        let (sender, events) = broadcast::channel(65_536);
        let printer = Printer::spawn(
            PrinterSettings {
                id: "p1".into(),
                engine,
                auto_connect: true,
            },
            sender,
        );
        let rig = Rig {
            dir,
            sim,
            printer,
            events,
        };
        rig.wait_state(PrinterState::Operational, Duration::from_secs(10))
            .await;
        rig
    }

    /// Waits until the printer is in `state`; panics with its status otherwise.
    pub(crate) async fn wait_state(&self, state: PrinterState, timeout: Duration) -> PrinterStatus {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.printer.status();
            if status.state == state {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "printer not {state:?} after {timeout:?}: {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits for the end of the running print and returns how it ended.
    pub(crate) async fn wait_print_end(
        &self,
        timeout: Duration,
    ) -> (PrintPhase, printfarm_serial::engine::Progress) {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.printer.status();
            if !status.state.is_printing() {
                if let Some(last) = status.last_print.clone() {
                    return last;
                }
            }
            assert!(
                Instant::now() < deadline,
                "print not over after {timeout:?}: {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Prints `file` to the end and returns the G-code the printer executed (housekeeping removed).
    pub(crate) async fn print(&self, file: &Path, timeout: Duration) -> Vec<String> {
        self.printer.start_print(file.to_path_buf()).await.unwrap();
        let (phase, progress) = self.wait_print_end(timeout).await;
        assert_eq!(
            phase,
            PrintPhase::Done,
            "print ended {phase:?}: {progress:?}"
        );
        self.executed()
    }

    /// Starts printing `file` and waits until the print fails (the printer's fault plan stops
    /// it); returns how far it got.
    pub(crate) async fn print_until_failed(&self, file: &Path) -> Progress {
        self.printer.start_print(file.to_path_buf()).await.unwrap();
        let (phase, progress) = self.wait_print_end(Duration::from_secs(30)).await;
        assert_eq!(phase, PrintPhase::Failed, "{progress:?}");
        progress
    }

    /// What the printer executed, without the engine's housekeeping.
    pub(crate) fn executed(&self) -> Vec<String> {
        without_housekeeping(self.sim.executed())
    }
}

pub(crate) fn without_housekeeping(lines: Vec<String>) -> Vec<String> {
    lines
        .into_iter()
        .filter(|line| {
            let code = line.split_whitespace().next().unwrap_or("");
            !HOUSEKEEPING.contains(&code)
        })
        .collect()
}

/// Writes a sliced-looking G-code file of `lines` moves (with comments and blank lines the
/// engine must strip) and returns its path.
pub(crate) fn gcode_file(dir: &Path, name: &str, lines: usize) -> PathBuf {
    let path = dir.join(name);
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(file, "; generated by printfarm tests").unwrap();
    writeln!(file, "G28 ; home").unwrap();
    writeln!(file, "G90").unwrap();
    for i in 1..lines.saturating_sub(1) {
        match i % 50 {
            0 => writeln!(file, ";LAYER:{}", i / 50).unwrap(),
            1 => writeln!(file).unwrap(),
            _ => {}
        }
        let x = 10.0 + (i % 200) as f64 * 0.5;
        let y = 20.0 + (i % 173) as f64 * 0.25;
        writeln!(
            file,
            "G1 X{x:.3} Y{y:.3} E{:.5} ; segment {i}",
            i as f64 * 0.0123
        )
        .unwrap();
    }
    writeln!(file, "M84").unwrap();
    drop(file);
    path
}

/// The file's G-code as the firmware should execute it.
pub(crate) fn expected(file: &Path) -> Vec<String> {
    gcode_lines(file).unwrap()
}

/// Asserts the executed log equals the file's lines exactly, with a readable first difference.
pub(crate) fn assert_executed_exactly(executed: &[String], file: &Path) {
    let expected = expected(file);
    if executed != expected.as_slice() {
        let first = executed
            .iter()
            .zip(&expected)
            .position(|(a, b)| a != b)
            .unwrap_or(executed.len().min(expected.len()));
        panic!(
            "executed {} lines, file has {}; first difference at {first}: executed {:?}, file {:?}",
            executed.len(),
            expected.len(),
            executed.get(first.saturating_sub(1)..(first + 3).min(executed.len())),
            expected.get(first.saturating_sub(1)..(first + 3).min(expected.len())),
        );
    }
}

pub(crate) fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}
