//! `printfarm:plugin/printers`: reading needs `printers.read`, control needs `printers.control`.
//!
//! Reads and controls the printers through their supervisors. Starting a library file goes through
//! the queue (a single-copy job pinned to the printer, ahead of everything), so its history and
//! crash recovery are those of every other print; pauses and resumes go through the scheduler,
//! which records them in that history with the plugin as their author.

use printfarm_serial::commands::Jog;
use printfarm_serial::engine::ControlError;
use printfarm_serial::supervisor::Printer;

use super::super::bindings::printfarm::plugin::printers::{self, PrinterInfo, TemperatureSample};
use super::super::bindings::HostError;
use super::super::context::cap;
use super::super::convert;
use super::super::state::CallState;
use crate::farm::scheduler::PrintNowError;
use crate::farm::PrinterSummary;

impl CallState {
    /// A printer this plugin may read.
    fn find_printer(&self, id: &str) -> Result<PrinterSummary, HostError> {
        self.plugin
            .grant::<cap::PrintersRead>()?
            .summary(id)
            .ok_or_else(|| not_found(id))
    }

    /// The supervisor of a printer this plugin may control.
    fn controlled(&self, id: &str) -> Result<Printer, HostError> {
        let printers = self.plugin.grant::<cap::PrintersControl>()?.printers();
        printers.config(id).ok_or_else(|| not_found(id))?;
        printers.printer(id).cloned().ok_or_else(|| {
            HostError::Unavailable(format!("printer `{id}` is not driven by this process"))
        })
    }
}

impl CallState {
    /// Pauses a printer's print, recorded in its history as this plugin's (`plugin:<id>`) with
    /// the reason given.
    async fn pause_recorded(&mut self, id: &str, reason: Option<&str>) -> Result<(), HostError> {
        self.controlled(id)?;
        let by = format!("plugin:{}", self.plugin.id);
        self.plugin
            .grant::<cap::PrintersControl>()?
            .scheduler()
            .pause(id, &by, reason)
            .await
            .map_err(control_error)
    }
}

fn not_found(id: &str) -> HostError {
    HostError::NotFound(format!("no printer with id `{id}`"))
}

/// A refused control request as the plugin sees it.
fn control_error(error: ControlError) -> HostError {
    let message = error.to_string();
    match error {
        ControlError::AlreadyPrinting(_)
        | ControlError::NotPrinting
        | ControlError::NotPaused
        | ControlError::Busy(_) => HostError::Conflict(message),
        ControlError::NotConnected(_) => HostError::Unavailable(message),
        ControlError::Invalid(_) => HostError::Invalid(message),
        ControlError::File { .. } => HostError::NotFound(message),
    }
}

impl printers::Host for CallState {
    async fn list(&mut self) -> Result<Vec<PrinterInfo>, HostError> {
        Ok(self
            .plugin
            .grant::<cap::PrintersRead>()?
            .summaries()
            .iter()
            .map(convert::printer_info)
            .collect())
    }

    async fn get(&mut self, id: String) -> Result<PrinterInfo, HostError> {
        Ok(convert::printer_info(&self.find_printer(&id)?))
    }

    async fn temperature_history(
        &mut self,
        id: String,
        limit: u32,
    ) -> Result<Vec<TemperatureSample>, HostError> {
        self.find_printer(&id)?;
        Ok(self
            .plugin
            .grant::<cap::PrintersRead>()?
            .printers()
            .temperature_history(&id, limit as usize)
            .into_iter()
            .map(|sample| TemperatureSample {
                time: sample.time_ms,
                readings: sample.readings.iter().map(convert::temperature).collect(),
            })
            .collect())
    }

    async fn connect(&mut self, id: String) -> Result<(), HostError> {
        self.controlled(&id)?.connect().await.map_err(control_error)
    }
    async fn disconnect(&mut self, id: String) -> Result<(), HostError> {
        self.controlled(&id)?
            .disconnect()
            .await
            .map_err(control_error)
    }
    async fn send_commands(&mut self, id: String, commands: Vec<String>) -> Result<(), HostError> {
        let printer = self.controlled(&id)?;
        printer.send(commands).await.map_err(control_error)
    }
    async fn start_print(&mut self, id: String, file: String) -> Result<(), HostError> {
        self.controlled(&id)?;
        let by = format!("plugin:{}", self.plugin.id);
        self.plugin
            .grant::<cap::PrintersControl>()?
            .scheduler()
            .print_now(&id, &file, &by)
            .await
            .map_err(|e| match e {
                PrintNowError::Busy(m) => HostError::Conflict(m),
                PrintNowError::Core(e) => super::core_error(e),
                PrintNowError::Printer(e) => control_error(e),
            })
    }
    async fn pause(&mut self, id: String) -> Result<(), HostError> {
        self.pause_recorded(&id, None).await
    }
    async fn pause_with_reason(&mut self, id: String, reason: String) -> Result<(), HostError> {
        self.pause_recorded(&id, Some(&reason)).await
    }
    async fn resume(&mut self, id: String) -> Result<(), HostError> {
        self.controlled(&id)?;
        self.plugin
            .grant::<cap::PrintersControl>()?
            .scheduler()
            .resume(&id)
            .await
            .map_err(control_error)
    }
    async fn cancel(&mut self, id: String) -> Result<(), HostError> {
        self.controlled(&id)?.cancel().await.map_err(control_error)
    }
    async fn emergency_stop(&mut self, id: String) -> Result<(), HostError> {
        self.controlled(&id)?
            .emergency_stop()
            .await
            .map_err(control_error)
    }
    async fn set_temperature(
        &mut self,
        id: String,
        heater: String,
        target: f64,
    ) -> Result<(), HostError> {
        let printer = self.controlled(&id)?;
        printer
            .set_temperature(&heater, target)
            .await
            .map_err(control_error)
    }
    async fn jog(
        &mut self,
        id: String,
        x: Option<f64>,
        y: Option<f64>,
        z: Option<f64>,
        absolute: bool,
        speed: Option<f64>,
    ) -> Result<(), HostError> {
        let printer = self.controlled(&id)?;
        let jog = Jog {
            x,
            y,
            z,
            absolute,
            speed,
        };
        printer.jog(jog).await.map_err(control_error)
    }
    async fn home(&mut self, id: String, axes: Vec<String>) -> Result<(), HostError> {
        self.controlled(&id)?
            .home(&axes)
            .await
            .map_err(control_error)
    }
    async fn bed_cleared(&mut self, id: String) -> Result<(), HostError> {
        self.controlled(&id)?;
        self.plugin
            .grant::<cap::PrintersControl>()?
            .queue()
            .set_bed_clear(&id, true)
            .await
            .map_err(super::core_error)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_denied, Harness};
    use super::*;

    #[tokio::test]
    async fn reading_needs_printers_read_and_an_unknown_printer_is_not_found() {
        let harness = Harness::new().await;
        let mut call = harness.granted(&["printers.read"]);
        assert!(printers::Host::list(&mut call).await.unwrap().is_empty());
        match printers::Host::get(&mut call, "nope".into()).await {
            Err(HostError::NotFound(message)) => assert!(message.contains("nope"), "{message}"),
            other => panic!("{other:?}"),
        }
        let mut call = harness.granted(&[]);
        assert_denied(printers::Host::list(&mut call).await, "printers.read");
        assert_denied(
            printers::Host::get(&mut call, "nope".into()).await,
            "printers.read",
        );
    }

    #[tokio::test]
    async fn control_needs_printers_control_even_with_read() {
        let harness = Harness::new().await;
        let mut call = harness.granted(&["printers.read"]);
        assert_denied(
            printers::Host::pause(&mut call, "p1".into()).await,
            "printers.control",
        );
        assert_denied(
            printers::Host::send_commands(&mut call, "p1".into(), vec!["G28".into()]).await,
            "printers.control",
        );
        assert_denied(
            printers::Host::emergency_stop(&mut call, "p1".into()).await,
            "printers.control",
        );
        assert_denied(
            printers::Host::pause_with_reason(&mut call, "p1".into(), "why".into()).await,
            "printers.control",
        );
        let mut call = harness.granted(&["printers.read", "printers.control"]);
        match printers::Host::pause(&mut call, "p1".into()).await {
            Err(HostError::NotFound(message)) => assert!(message.contains("p1"), "{message}"),
            other => panic!("{other:?}"),
        }
    }
}
