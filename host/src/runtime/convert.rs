//! Core types to WIT types, at the sandbox boundary.

use super::bindings::printfarm::plugin::events::{self as wit_events, Event};
use super::bindings::printfarm::plugin::printers::{
    PrintProgress, PrinterInfo, PrinterProfile as WitProfile, PrinterState as WitState,
    Temperature as WitTemperature,
};
use crate::config::profile::{BedShape, Origin};
use crate::config::PrinterProfile;
use crate::events::{CoreEvent, FileChange, PrintPhase};
use crate::farm::{PrinterState, PrinterSummary, Temperature};
use printfarm_serial::engine::Progress;

/// A printer state as WIT sees it.
pub fn printer_state(s: PrinterState) -> WitState {
    match s {
        PrinterState::Offline => WitState::Offline,
        PrinterState::Connecting => WitState::Connecting,
        PrinterState::Operational => WitState::Operational,
        PrinterState::Printing => WitState::Printing,
        PrinterState::Pausing => WitState::Pausing,
        PrinterState::Paused => WitState::Paused,
        PrinterState::Cancelling => WitState::Cancelling,
        PrinterState::Error => WitState::Error,
    }
}

/// A temperature reading as WIT sees it.
pub fn temperature(t: &Temperature) -> WitTemperature {
    WitTemperature {
        sensor: t.sensor.clone(),
        actual: t.actual,
        target: t.target,
    }
}

/// A printer as WIT sees it.
pub fn printer_info(p: &PrinterSummary) -> PrinterInfo {
    PrinterInfo {
        id: p.id.clone(),
        name: p.name.clone(),
        state: printer_state(p.state),
        state_reason: p.state_reason.clone(),
        port: p.port.clone(),
        baud: p.baud,
        profile: p.profile.clone(),
        temperatures: p.temperatures.iter().map(temperature).collect(),
        progress: p.progress.as_ref().map(|pr| progress(pr, p.remaining_secs)),
        awaiting_bed_clear: p.awaiting_bed_clear(),
        details: profile(&p.details),
        webcam_snapshot: p.webcam_snapshot.clone(),
    }
}

/// A printer profile as WIT sees it.
pub fn profile(p: &PrinterProfile) -> WitProfile {
    let [w, d, h] = p.volume;
    let [x, y, z, e] = p.max_speeds;
    WitProfile {
        name: p.name.clone(),
        volume: (w, d, h),
        origin_center: p.origin == Origin::Center,
        circular_bed: p.bed_shape == BedShape::Circular,
        heated_bed: p.heated_bed,
        heated_chamber: p.heated_chamber,
        extruders: p.extruders,
        nozzle_diameter: p.nozzle_diameter,
        max_speeds: (x, y, z, e),
    }
}

/// A print's progress as WIT sees it, with the seconds it has left when known.
pub fn progress(p: &Progress, remaining_secs: Option<f64>) -> PrintProgress {
    PrintProgress {
        file: p.file.display().to_string(),
        file_size: p.file_size,
        file_pos: p.acked_offset,
        lines_sent: p.lines_sent,
        lines_acked: p.lines_acked,
        elapsed_secs: p.elapsed_secs,
        remaining_secs,
        resends: p.resends,
    }
}

/// A core event as WIT sees it.
pub fn event(e: &CoreEvent) -> Event {
    match e {
        CoreEvent::PrinterState {
            printer,
            previous,
            current,
            reason,
        } => Event::PrinterState(wit_events::StateChanged {
            printer: printer.clone(),
            previous: printer_state(*previous),
            current: printer_state(*current),
            reason: reason.clone(),
        }),
        CoreEvent::Temperatures {
            printer,
            time,
            readings,
        } => Event::Temperatures(wit_events::TemperaturesReported {
            printer: printer.clone(),
            time: *time,
            readings: readings.iter().map(temperature).collect(),
        }),
        CoreEvent::Progress {
            printer,
            progress: p,
            remaining_secs,
        } => Event::Progress(wit_events::ProgressReported {
            printer: printer.clone(),
            progress: progress(p, *remaining_secs),
        }),
        CoreEvent::PrinterLog { printer, line } => Event::PrinterLog(wit_events::LogLine {
            printer: printer.clone(),
            direction: wit_events::Direction::Received,
            line: line.clone(),
        }),
        CoreEvent::Print {
            printer,
            phase,
            file,
            task_id,
            elapsed_secs,
            reason,
        } => Event::Print(wit_events::PrintChanged {
            printer: printer.clone(),
            phase: match phase {
                PrintPhase::Started => wit_events::PrintPhase::Started,
                PrintPhase::Paused => wit_events::PrintPhase::Paused,
                PrintPhase::Resumed => wit_events::PrintPhase::Resumed,
                PrintPhase::Done => wit_events::PrintPhase::Done,
                PrintPhase::Failed => wit_events::PrintPhase::Failed,
                PrintPhase::Cancelled => wit_events::PrintPhase::Cancelled,
            },
            file: file.clone(),
            task_id: task_id.clone(),
            elapsed_secs: *elapsed_secs,
            reason: reason.clone(),
        }),
        CoreEvent::Files { path, change } => Event::Files(wit_events::FileChanged {
            path: path.clone(),
            change: match change {
                FileChange::Added => wit_events::FileChange::Added,
                FileChange::Removed => wit_events::FileChange::Removed,
                FileChange::Analysed => wit_events::FileChange::Analysed,
            },
        }),
        CoreEvent::Jobs { job_id, what } => Event::Jobs(wit_events::JobChanged {
            job_id: job_id.clone(),
            what: what.clone(),
        }),
    }
}
