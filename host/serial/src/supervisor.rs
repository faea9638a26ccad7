//! One supervisor per printer: connects when the device is there, runs engine sessions, keeps
//! the printer's state machine and temperature history, and reconnects after a USB replug.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::commands;
use crate::engine::{self, Control, ControlError, EngineConfig, EngineEvent, Progress, SessionEnd};
use crate::protocol::reply::FirmwareInfo;
use crate::protocol::temperature::TemperatureReport;
use crate::temperature_history::TemperatureHistory;
use crate::terminal::Terminal;

/// How often the supervisor looks for a device path that is not there (USB replug).
pub const DEVICE_POLL: Duration = Duration::from_millis(500);
/// How long it waits before retrying a device that is there but did not answer.
pub const RETRY_BACKOFF: Duration = Duration::from_secs(5);
pub use crate::temperature_history::TEMPERATURE_HISTORY;

/// A printer's connection and print state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrinterState {
    /// Not connected.
    Offline,
    /// Opening the port and handshaking.
    Connecting,
    /// Connected and idle.
    Operational,
    /// Printing.
    Printing,
    /// Pause requested; the firmware finishes the lines it has.
    Pausing,
    /// Paused.
    Paused,
    /// Cancel requested.
    Cancelling,
    /// A failure; the reason says which. Recovers by itself after a replug, or on connect.
    Error,
}

impl PrinterState {
    /// Whether a print is running, paused or being paused/cancelled.
    pub fn is_printing(self) -> bool {
        matches!(
            self,
            PrinterState::Printing
                | PrinterState::Pausing
                | PrinterState::Paused
                | PrinterState::Cancelling
        )
    }

    /// Whether a session is up (commands can be sent).
    pub fn is_connected(self) -> bool {
        !matches!(
            self,
            PrinterState::Offline | PrinterState::Connecting | PrinterState::Error
        )
    }
}

/// How a supervisor runs its printer.
#[derive(Debug, Clone)]
pub struct PrinterSettings {
    /// The printer's id (for logs and events).
    pub id: String,
    /// The engine's settings (port, baud, buffers, timeouts, scripts).
    pub engine: EngineConfig,
    /// Connect by itself when the device is present (and again after a replug).
    pub auto_connect: bool,
}

/// One temperature sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TemperatureSample {
    /// Unix time in ms.
    pub time_ms: u64,
    /// `tool0`, `bed`, … with actual and target °C.
    pub readings: Vec<SensorReading>,
}

/// One sensor in a sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SensorReading {
    /// `tool0`, `tool1`, `bed`, `chamber`, …
    pub sensor: String,
    /// Measured °C.
    pub actual: f64,
    /// Target °C, when reported.
    pub target: Option<f64>,
}

/// What happened to a print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrintPhase {
    /// Started.
    Started,
    /// Paused.
    Paused,
    /// Resumed.
    Resumed,
    /// Every line acknowledged.
    Done,
    /// Failed (device gone, fatal firmware error, …).
    Failed,
    /// Cancelled.
    Cancelled,
}

/// A printer's status snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct PrinterStatus {
    /// The state.
    pub state: PrinterState,
    /// Why, when that needs saying.
    pub reason: Option<String>,
    /// The latest readings.
    pub temperatures: Vec<SensorReading>,
    /// The running (or paused) print.
    pub progress: Option<Progress>,
    /// The firmware's M115 name, once connected.
    pub firmware: Option<String>,
    /// How the last print ended and how far it got.
    pub last_print: Option<(PrintPhase, Progress)>,
}

impl PrinterStatus {
    /// A printer not connected (yet), for that reason.
    pub fn offline(reason: Option<String>) -> PrinterStatus {
        PrinterStatus {
            state: PrinterState::Offline,
            reason,
            temperatures: Vec::new(),
            progress: None,
            firmware: None,
            last_print: None,
        }
    }
}

/// What a supervisor publishes.
#[derive(Debug, Clone)]
pub struct PrinterEvent {
    /// The printer's id.
    pub printer: String,
    /// What happened.
    pub kind: PrinterEventKind,
}

/// The kinds of [`PrinterEvent`].
#[derive(Debug, Clone)]
pub enum PrinterEventKind {
    /// The state changed.
    State {
        /// Before.
        previous: PrinterState,
        /// Now.
        current: PrinterState,
        /// Why.
        reason: Option<String>,
    },
    /// New temperatures.
    Temperatures(TemperatureSample),
    /// Print progress (a few times a second at most).
    Progress(Progress),
    /// A print started, paused, resumed or ended.
    Print {
        /// What happened.
        phase: PrintPhase,
        /// How far it got.
        progress: Progress,
        /// Why, for failures.
        reason: Option<String>,
    },
    /// A firmware message or a line worth logging.
    Log(String),
}

enum Request {
    Connect(oneshot::Sender<Result<(), ControlError>>),
    Disconnect(oneshot::Sender<Result<(), ControlError>>),
    Control(Control),
}

struct Shared {
    status: PrinterStatus,
    history: TemperatureHistory,
}

/// A handle on a printer's supervisor task. Cheap to clone.
#[derive(Clone)]
pub struct Printer {
    id: Arc<str>,
    requests: mpsc::Sender<Request>,
    shared: Arc<Mutex<Shared>>,
    terminal: Terminal,
}

impl Printer {
    /// Starts the printer's supervisor on the current tokio runtime. Events go to `events`.
    pub fn spawn(settings: PrinterSettings, events: broadcast::Sender<PrinterEvent>) -> Printer {
        let (requests, receiver) = mpsc::channel(64);
        let shared = Arc::new(Mutex::new(Shared {
            status: PrinterStatus::offline(None),
            history: TemperatureHistory::default(),
        }));
        let terminal = Terminal::default();
        let printer = Printer {
            id: settings.id.as_str().into(),
            requests,
            shared: shared.clone(),
            terminal: terminal.clone(),
        };
        let supervisor = Supervisor {
            auto_connect: settings.auto_connect,
            settings,
            events,
            shared,
            terminal,
            failed_in_session: None,
        };
        tokio::spawn(supervisor.run(receiver));
        printer
    }

    /// The printer's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The current status.
    pub fn status(&self) -> PrinterStatus {
        lock(&self.shared).status.clone()
    }

    /// The last `limit` temperature samples, oldest first.
    pub fn temperature_history(&self, limit: usize) -> Vec<TemperatureSample> {
        lock(&self.shared).history.last(limit)
    }

    /// The lines that went over the printer's link recently, both ways.
    pub fn terminal(&self) -> &Terminal {
        &self.terminal
    }

    /// Connects now (and turns auto-connect back on).
    pub async fn connect(&self) -> Result<(), ControlError> {
        self.ask(Request::Connect).await
    }

    /// Disconnects and stays offline until [`connect`](Self::connect). Refused while printing.
    pub async fn disconnect(&self) -> Result<(), ControlError> {
        self.ask(Request::Disconnect).await
    }

    /// Queues raw G-code lines (sent at the next line boundary, also during a print).
    /// An `M112` among them is an emergency stop.
    pub async fn send(&self, lines: Vec<String>) -> Result<(), ControlError> {
        self.require_connected()?;
        self.forward(Control::Send(lines)).await
    }

    /// Starts printing a file.
    pub async fn start_print(&self, file: PathBuf) -> Result<(), ControlError> {
        self.require_connected()?;
        self.ask_session(|reply| Control::StartPrint { file, reply })
            .await
    }

    /// Pauses the print.
    pub async fn pause(&self) -> Result<(), ControlError> {
        self.require_connected()?;
        self.ask_session(Control::Pause).await
    }

    /// Resumes the print.
    pub async fn resume(&self) -> Result<(), ControlError> {
        self.require_connected()?;
        self.ask_session(Control::Resume).await
    }

    /// Cancels the print.
    pub async fn cancel(&self) -> Result<(), ControlError> {
        self.require_connected()?;
        self.ask_session(Control::Cancel).await
    }

    /// `M112` ahead of everything, heaters off, port closed. The printer stays in error
    /// until someone connects it again.
    pub async fn emergency_stop(&self) -> Result<(), ControlError> {
        let state = self.status().state;
        if !(state.is_connected() || state == PrinterState::Connecting) {
            return Err(ControlError::NotConnected(state_name(state)));
        }
        self.forward(Control::EmergencyStop).await
    }

    /// Sets a heater's target: `tool0`…, `bed` or `chamber` (0 switches it off).
    pub async fn set_temperature(&self, heater: &str, target: f64) -> Result<(), ControlError> {
        let line = commands::set_temperature(heater, target)?;
        self.send(vec![line]).await
    }

    /// Moves the head by (or, `absolute`, to) the given coordinates at `speed` mm/min.
    pub async fn jog(&self, jog: commands::Jog) -> Result<(), ControlError> {
        self.send(commands::jog(&jog)).await
    }

    /// Homes the given axes (`x`, `y`, `z`), all of them when empty.
    pub async fn home(&self, axes: &[String]) -> Result<(), ControlError> {
        let line = commands::home(axes)?;
        self.send(vec![line]).await
    }

    fn require_connected(&self) -> Result<(), ControlError> {
        let state = self.status().state;
        if state.is_connected() {
            Ok(())
        } else {
            Err(ControlError::NotConnected(state_name(state)))
        }
    }

    async fn forward(&self, control: Control) -> Result<(), ControlError> {
        self.requests
            .send(Request::Control(control))
            .await
            .map_err(|_| ControlError::NotConnected("supervisor stopped".into()))
    }

    async fn ask(
        &self,
        request: impl FnOnce(oneshot::Sender<Result<(), ControlError>>) -> Request,
    ) -> Result<(), ControlError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(request(reply))
            .await
            .map_err(|_| ControlError::NotConnected("supervisor stopped".into()))?;
        answer
            .await
            .unwrap_or_else(|_| Err(ControlError::NotConnected("the connection ended".into())))
    }

    async fn ask_session(
        &self,
        control: impl FnOnce(oneshot::Sender<Result<(), ControlError>>) -> Control,
    ) -> Result<(), ControlError> {
        self.ask(|reply| Request::Control(control(reply))).await
    }
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // A panic while holding the lock leaves plain data behind; keep serving it.
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn state_name(state: PrinterState) -> String {
    format!("{state:?}").to_lowercase()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

struct Supervisor {
    settings: PrinterSettings,
    auto_connect: bool,
    events: broadcast::Sender<PrinterEvent>,
    shared: Arc<Mutex<Shared>>,
    /// Every line of every session, for the terminal.
    terminal: Terminal,
    /// The print that failed because the running session ended: the state's reason names it.
    failed_in_session: Option<Progress>,
}

/// What to do after a session ended.
#[derive(Clone, Copy)]
enum After {
    /// Connect again at once (the firmware rebooted).
    Reconnect,
    /// Wait for the device path to (re)appear, then connect.
    WaitForDevice,
    /// Wait, then retry (the device is there but failed).
    Backoff,
    /// Stay down until someone connects.
    Stay,
}

impl Supervisor {
    async fn run(mut self, mut requests: mpsc::Receiver<Request>) {
        let mut after = if self.auto_connect {
            After::WaitForDevice
        } else {
            After::Stay
        };
        loop {
            if !matches!(after, After::Reconnect)
                && self.wait_for_connect(&mut requests, after).await.is_none()
            {
                return;
            }
            after = self.session(&mut requests).await;
        }
    }

    /// Waits until it is time to connect; `None` when every handle is gone.
    async fn wait_for_connect(
        &mut self,
        requests: &mut mpsc::Receiver<Request>,
        after: After,
    ) -> Option<()> {
        let port = self.settings.engine.port.clone();
        let mut backoff_until =
            matches!(after, After::Backoff).then(|| tokio::time::Instant::now() + RETRY_BACKOFF);
        let mut waiting = matches!(after, After::WaitForDevice | After::Backoff);
        if waiting && !port.exists() && self.status_state() != PrinterState::Error {
            self.set_state(
                PrinterState::Offline,
                Some(format!("device {} not present", port.display())),
            );
        }
        loop {
            if self.auto_connect
                && waiting
                && port.exists()
                && backoff_until.is_none_or(|until| tokio::time::Instant::now() >= until)
            {
                return Some(());
            }
            tokio::select! {
                request = requests.recv() => match request? {
                    Request::Connect(reply) => {
                        self.auto_connect = self.settings.auto_connect;
                        let _ = reply.send(Ok(()));
                        return Some(());
                    }
                    Request::Disconnect(reply) => {
                        waiting = false;
                        backoff_until = None;
                        self.set_state(PrinterState::Offline, Some("disconnected".into()));
                        let _ = reply.send(Ok(()));
                    }
                    Request::Control(control) => refuse(control, self.status_state()),
                },
                _ = tokio::time::sleep(DEVICE_POLL) => {
                    if backoff_until.is_some_and(|until| tokio::time::Instant::now() >= until) {
                        backoff_until = None;
                    }
                }
            }
        }
    }

    async fn session(&mut self, requests: &mut mpsc::Receiver<Request>) -> After {
        self.set_state(PrinterState::Connecting, None);
        let (control_tx, mut control_rx) = mpsc::channel(64);
        let (events_tx, mut events_rx) = mpsc::unbounded_channel();
        let session = engine::run(
            self.settings.engine.clone(),
            &mut control_rx,
            &events_tx,
            self.terminal.clone(),
        );
        tokio::pin!(session);
        self.failed_in_session = None;
        let end = loop {
            tokio::select! {
                end = &mut session => break end,
                Some(event) = events_rx.recv() => self.on_engine_event(event),
                request = requests.recv() => match request {
                    None => {
                        let _ = control_tx.try_send(Control::Disconnect);
                    }
                    Some(Request::Connect(reply)) => { let _ = reply.send(Ok(())); }
                    Some(Request::Disconnect(reply)) => {
                        let state = self.status_state();
                        if state.is_printing() {
                            let _ = reply.send(Err(ControlError::Busy("it is printing; cancel the print first".into())));
                        } else {
                            let _ = control_tx.send(Control::Disconnect).await;
                            let _ = reply.send(Ok(()));
                        }
                    }
                    Some(Request::Control(control)) => { let _ = control_tx.send(control).await; }
                },
            }
        };
        while let Ok(event) = events_rx.try_recv() {
            self.on_engine_event(event);
        }
        let port = &self.settings.engine.port;
        let after = match &end {
            SessionEnd::Disconnected => {
                self.auto_connect = false;
                self.set_state(PrinterState::Offline, Some("disconnected".into()));
                return After::Stay;
            }
            SessionEnd::Reset => After::Reconnect,
            SessionEnd::Gone(_) if !port.exists() => After::WaitForDevice,
            SessionEnd::Gone(_) | SessionEnd::Timeout(_) | SessionEnd::Protocol(_) => {
                After::Backoff
            }
            SessionEnd::Fatal(_) | SessionEnd::EmergencyStop => {
                self.auto_connect = false;
                After::Stay
            }
        };
        let mut reason = end.reason();
        if let Some(progress) = self.failed_in_session.take() {
            reason.push_str(&format!(
                "; the print of {} stopped after file line {} (byte {} of {})",
                progress.file.display(),
                progress.last_acked_line,
                progress.acked_offset,
                progress.file_size
            ));
        }
        let state = if matches!(after, After::Reconnect) {
            PrinterState::Connecting
        } else {
            PrinterState::Error
        };
        self.set_state(state, Some(reason));
        after
    }

    fn on_engine_event(&mut self, event: EngineEvent) {
        match event {
            EngineEvent::Connected { firmware, .. } => {
                self.note_firmware(&firmware);
                self.set_state(PrinterState::Operational, None);
            }
            EngineEvent::Firmware(firmware) => self.note_firmware(&firmware),
            EngineEvent::Temperatures(report) => self.on_temperatures(&report),
            EngineEvent::Position(_) => {}
            EngineEvent::Message(text) => self.publish(PrinterEventKind::Log(text)),
            EngineEvent::Action(action) => {
                self.publish(PrinterEventKind::Log(format!("action: {action:?}")))
            }
            EngineEvent::PrintStarted(progress) => {
                self.print_phase(PrintPhase::Started, progress, None, PrinterState::Printing)
            }
            EngineEvent::Progress(progress) => {
                lock(&self.shared).status.progress = Some(progress.clone());
                self.publish(PrinterEventKind::Progress(progress));
            }
            EngineEvent::PrintPausing(progress) => {
                lock(&self.shared).status.progress = Some(progress);
                self.set_state(PrinterState::Pausing, None);
            }
            EngineEvent::PrintPaused(progress) => {
                self.print_phase(PrintPhase::Paused, progress, None, PrinterState::Paused)
            }
            EngineEvent::PrintResumed(progress) => {
                self.print_phase(PrintPhase::Resumed, progress, None, PrinterState::Printing)
            }
            EngineEvent::PrintCancelling(progress) => {
                lock(&self.shared).status.progress = Some(progress);
                self.set_state(PrinterState::Cancelling, None);
            }
            EngineEvent::PrintDone(progress) => {
                self.print_phase(PrintPhase::Done, progress, None, PrinterState::Operational)
            }
            EngineEvent::PrintCancelled(progress) => self.print_phase(
                PrintPhase::Cancelled,
                progress,
                None,
                PrinterState::Operational,
            ),
            EngineEvent::PrintFailed { reason, progress } => {
                // When the session itself ended, the supervisor sets the state afterwards.
                let next = self.status_state();
                let next = if next.is_printing() {
                    PrinterState::Operational
                } else {
                    next
                };
                self.failed_in_session = Some(progress.clone());
                self.print_phase(PrintPhase::Failed, progress, Some(reason), next)
            }
        }
    }

    fn note_firmware(&mut self, firmware: &FirmwareInfo) {
        if !firmware.name.is_empty() {
            lock(&self.shared).status.firmware = Some(firmware.name.clone());
        }
    }

    fn on_temperatures(&mut self, report: &TemperatureReport) {
        let readings: Vec<SensorReading> = report
            .readings
            .iter()
            .map(|(sensor, reading)| SensorReading {
                sensor: sensor.name(),
                actual: reading.actual,
                target: reading.target,
            })
            .collect();
        let sample = TemperatureSample {
            time_ms: now_ms(),
            readings: readings.clone(),
        };
        {
            let mut shared = lock(&self.shared);
            shared.status.temperatures = readings;
            shared.history.push(&sample);
        }
        self.publish(PrinterEventKind::Temperatures(sample));
    }

    fn print_phase(
        &mut self,
        phase: PrintPhase,
        progress: Progress,
        reason: Option<String>,
        next: PrinterState,
    ) {
        {
            let mut shared = lock(&self.shared);
            match phase {
                PrintPhase::Done | PrintPhase::Failed | PrintPhase::Cancelled => {
                    shared.status.progress = None;
                    shared.status.last_print = Some((phase, progress.clone()));
                }
                PrintPhase::Started | PrintPhase::Paused | PrintPhase::Resumed => {
                    shared.status.progress = Some(progress.clone());
                }
            }
        }
        self.publish(PrinterEventKind::Print {
            phase,
            progress,
            reason: reason.clone(),
        });
        let state = self.status_state();
        if state != next {
            self.set_state(
                next,
                if phase == PrintPhase::Failed {
                    reason
                } else {
                    None
                },
            );
        }
    }

    fn status_state(&self) -> PrinterState {
        lock(&self.shared).status.state
    }

    fn set_state(&mut self, current: PrinterState, reason: Option<String>) {
        let previous = {
            let mut shared = lock(&self.shared);
            let previous = shared.status.state;
            if previous == current && shared.status.reason == reason {
                return;
            }
            shared.status.state = current;
            shared.status.reason = reason.clone();
            if !current.is_connected() {
                shared.status.temperatures.clear();
            }
            previous
        };
        tracing::info!(printer = %self.settings.id, ?previous, ?current, reason = reason.as_deref().unwrap_or(""), "printer state");
        self.publish(PrinterEventKind::State {
            previous,
            current,
            reason,
        });
    }

    fn publish(&self, kind: PrinterEventKind) {
        let _ = self.events.send(PrinterEvent {
            printer: self.settings.id.clone(),
            kind,
        });
    }
}

/// Answers a control request that arrived while no session runs.
fn refuse(control: Control, state: PrinterState) {
    let error = ControlError::NotConnected(state_name(state));
    match control {
        Control::StartPrint { reply, .. } => {
            let _ = reply.send(Err(error));
        }
        Control::Pause(reply) | Control::Resume(reply) | Control::Cancel(reply) => {
            let _ = reply.send(Err(error));
        }
        Control::Send(_) | Control::EmergencyStop | Control::Disconnect => {}
    }
}
