//! The farm's printers: one supervisor per `[[printers]]` entry, virtual printers on ptys for
//! `port = "virtual"`, and the bridge from their events to the host's event bus.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use printfarm_serial::engine::EngineConfig;
use printfarm_serial::sim::{SimConfig, VirtualPrinter};
use printfarm_serial::supervisor::{
    Printer, PrinterEvent, PrinterEventKind, PrinterSettings, TemperatureSample,
};
use tokio::sync::broadcast;

use super::printers::PrinterSummary;
use super::scheduler::ActivePrints;
use crate::config::PrinterConfig;
use crate::events::{CoreEvent, EventBus};

/// Printer events buffered between the supervisors and the bridge to the event bus.
const PRINTER_EVENT_BACKLOG: usize = 4096;

/// One printer of the farm.
struct FleetPrinter {
    config: PrinterConfig,
    /// `None` when nothing drives it (`printfarm plugin check`).
    printer: Option<Printer>,
    /// Keeps a virtual printer's pty alive for as long as the fleet runs.
    _simulator: Option<VirtualPrinter>,
}

/// Every printer of this host, in config order. Cheap to clone.
#[derive(Clone)]
pub struct Fleet {
    printers: Arc<Vec<FleetPrinter>>,
    /// Printers nothing may be sent to until an operator decides, with the reason.
    holds: Arc<Mutex<HashMap<String, String>>>,
    events: broadcast::Sender<PrinterEvent>,
    /// What the scheduler prints, to name prints by their library path.
    active: ActivePrints,
}

impl Fleet {
    /// Printers as declared, driven by nothing: for tools that only need the list.
    pub fn declared(configs: &[PrinterConfig]) -> Fleet {
        Fleet {
            holds: Default::default(),
            events: broadcast::channel(1).0,
            active: ActivePrints::default(),
            printers: Arc::new(
                configs
                    .iter()
                    .map(|config| FleetPrinter {
                        config: config.clone(),
                        printer: None,
                        _simulator: None,
                    })
                    .collect(),
            ),
        }
    }

    /// Starts a supervisor per printer (and a simulated printer on a pty under
    /// `<data-dir>/virtual/` for each `port = "virtual"`), publishing to `bus`. Printers in
    /// `holds` are not connected (nothing is sent to them) until [`release`](Self::release)d.
    pub fn start(
        configs: &[PrinterConfig],
        data_dir: &Path,
        bus: &EventBus,
        holds: HashMap<String, String>,
        active: &ActivePrints,
    ) -> anyhow::Result<Fleet> {
        let (sender, receiver) = broadcast::channel(PRINTER_EVENT_BACKLOG);
        tokio::spawn(bridge(receiver, bus.clone(), active.clone()));
        let mut printers = Vec::with_capacity(configs.len());
        for config in configs {
            let (port, simulator) = if config.is_virtual() {
                let link = data_dir.join("virtual").join(&config.id);
                let sim = SimConfig {
                    speed: config.virtual_speed.unwrap_or(1.0),
                    ..SimConfig::default()
                };
                let simulator = VirtualPrinter::start(&link, sim).with_context(|| {
                    format!(
                        "starting virtual printer `{}` at {}",
                        config.id,
                        link.display()
                    )
                })?;
                (link, Some(simulator))
            } else {
                (PathBuf::from(&config.port), None)
            };
            let printer = Printer::spawn(
                PrinterSettings {
                    id: config.id.clone(),
                    engine: engine_config(config, port),
                    auto_connect: config.auto_connect && !holds.contains_key(&config.id),
                },
                sender.clone(),
            );
            printers.push(FleetPrinter {
                config: config.clone(),
                printer: Some(printer),
                _simulator: simulator,
            });
        }
        Ok(Fleet {
            printers: Arc::new(printers),
            holds: Arc::new(Mutex::new(holds)),
            events: sender,
            active: active.clone(),
        })
    }

    /// Every printer event, from now on (the scheduler follows prints with it).
    pub fn subscribe(&self) -> broadcast::Receiver<PrinterEvent> {
        self.events.subscribe()
    }

    /// Why a printer is held, if it is.
    pub fn hold(&self, id: &str) -> Option<String> {
        self.holds.lock().expect("holds lock").get(id).cloned()
    }

    /// Releases a held printer (an operator decided). It connects if its config says so, unless
    /// the caller connects it itself (`connect_here`).
    pub async fn release(&self, id: &str, connect_here: bool) {
        let was_held = self.holds.lock().expect("holds lock").remove(id).is_some();
        if was_held && !connect_here && self.config(id).is_some_and(|c| c.auto_connect) {
            if let Some(printer) = self.printer(id) {
                if let Err(e) = printer.connect().await {
                    tracing::warn!(printer = id, error = %e, "released printer did not connect");
                }
            }
        }
    }

    /// The ids of every printer, in config order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.printers.iter().map(|p| p.config.id.as_str())
    }

    /// Every printer's config, in config order.
    pub fn configs(&self) -> impl Iterator<Item = &PrinterConfig> {
        self.printers.iter().map(|p| &p.config)
    }

    /// Every printer's summary, in config order.
    pub fn summaries(&self) -> Vec<PrinterSummary> {
        self.printers.iter().map(|p| self.summarise(p)).collect()
    }

    /// One printer's summary.
    pub fn summary(&self, id: &str) -> Option<PrinterSummary> {
        self.find(id).map(|p| self.summarise(p))
    }

    fn summarise(&self, p: &FleetPrinter) -> PrinterSummary {
        let mut summary = summary(p);
        if let Some(progress) = &mut summary.progress {
            summary.remaining_secs = self.active.remaining_secs(&p.config.id, progress);
            self.active.name_progress(&p.config.id, progress);
        }
        if let Some(reason) = self.hold(&p.config.id) {
            summary.held = true;
            summary.state_reason = Some(reason);
        }
        summary
    }

    /// The supervisor of a printer, when one drives it.
    pub fn printer(&self, id: &str) -> Option<&Printer> {
        self.find(id).and_then(|p| p.printer.as_ref())
    }

    /// A printer's config.
    pub fn config(&self, id: &str) -> Option<&PrinterConfig> {
        self.find(id).map(|p| &p.config)
    }

    /// The last `limit` temperature samples of a printer, oldest first.
    pub fn temperature_history(&self, id: &str, limit: usize) -> Vec<TemperatureSample> {
        self.printer(id)
            .map(|p| p.temperature_history(limit))
            .unwrap_or_default()
    }

    fn find(&self, id: &str) -> Option<&FleetPrinter> {
        self.printers.iter().find(|p| p.config.id == id)
    }
}

fn summary(p: &FleetPrinter) -> PrinterSummary {
    match &p.printer {
        Some(printer) => PrinterSummary::new(&p.config, printer.status()),
        None => PrinterSummary::declared(&p.config),
    }
}

/// The engine settings of a configured printer.
fn engine_config(config: &PrinterConfig, port: PathBuf) -> EngineConfig {
    let mut engine = EngineConfig::new(port, config.baud);
    engine.rx_buffer = config.rx_buffer;
    engine.command_buffer = config.command_buffer;
    engine.send_ahead = config.send_ahead;
    if let Some(secs) = config.ack_timeout_secs {
        engine.ack_timeout = Duration::from_secs_f64(secs);
    }
    engine.pause_script = config.pause_script.clone();
    engine.resume_script = config.resume_script.clone();
    engine.cancel_script = config.cancel_script.clone();
    engine.unknown_errors = config.firmware_errors;
    engine
}

/// How a print that did not come from the queue is named: its file name (never a server path).
fn file_name(file: &Path) -> String {
    file.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Republishes printer events as core events, naming queued prints by their library path and task.
async fn bridge(
    mut receiver: broadcast::Receiver<PrinterEvent>,
    bus: EventBus,
    active: ActivePrints,
) {
    loop {
        let event = match receiver.recv().await {
            Ok(event) => event,
            Err(broadcast::error::RecvError::Lagged(lost)) => {
                tracing::warn!(lost, "printer events lost before reaching the event bus");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let printer = event.printer;
        let core = match event.kind {
            PrinterEventKind::State {
                previous,
                current,
                reason,
            } => CoreEvent::PrinterState {
                printer,
                previous,
                current,
                reason,
            },
            PrinterEventKind::Temperatures(sample) => CoreEvent::Temperatures {
                printer,
                time: sample.time_ms,
                readings: sample.readings,
            },
            PrinterEventKind::Progress(mut progress) => {
                let remaining_secs = active.remaining_secs(&printer, &progress);
                active.name_progress(&printer, &mut progress);
                CoreEvent::Progress {
                    printer,
                    progress,
                    remaining_secs,
                }
            }
            PrinterEventKind::Print {
                phase,
                progress,
                reason,
            } => {
                let claim = active.claim_for(&printer, &progress.file);
                CoreEvent::Print {
                    file: match &claim {
                        Some(c) => c.file.clone(),
                        None => file_name(&progress.file),
                    },
                    task_id: claim.map(|c| c.task_id.to_string()),
                    printer,
                    phase,
                    elapsed_secs: progress.elapsed_secs,
                    reason,
                }
            }
            PrinterEventKind::Log(line) => CoreEvent::PrinterLog { printer, line },
        };
        bus.publish(core);
    }
}
