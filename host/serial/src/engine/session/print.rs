//! The print: the job streamed from a file, and its phases from start to done, cancelled or
//! failed.

use std::path::PathBuf;

use super::Session;
use crate::engine::control::{ControlError, EngineEvent, SessionEnd};
use crate::engine::progress::Tally;
use crate::engine::source::{FileLine, GcodeSource};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Running,
    Pausing,
    Paused,
    Cancelling,
}

pub(super) struct Job {
    pub(super) source: GcodeSource,
    pub(super) tally: Tally,
    pub(super) phase: Phase,
    /// The next file line, read but not yet sent (the window was full), when `has_pending`.
    /// Kept between lines so that its command's allocation is reused.
    pub(super) pending: FileLine,
    pub(super) has_pending: bool,
    pub(super) eof: bool,
    /// Set when the print is being stopped because of a firmware error: it then ends as
    /// failed with this reason instead of cancelled.
    pub(super) failure: Option<String>,
}

impl Session {
    pub(super) fn start_print(&mut self, file: PathBuf) -> Result<(), ControlError> {
        if !self.connected {
            return Err(ControlError::NotConnected("connecting".into()));
        }
        if let Some(job) = &self.job {
            return Err(ControlError::AlreadyPrinting(
                job.tally.file.display().to_string(),
            ));
        }
        let source = GcodeSource::open(&file).map_err(|error| ControlError::File {
            file: file.display().to_string(),
            reason: error.to_string(),
        })?;
        let tally = Tally::new(file, source.size());
        tracing::info!(file = %tally.file.display(), size = tally.file_size, "print started");
        self.emit(EngineEvent::PrintStarted(tally.snapshot()));
        self.job = Some(Job {
            source,
            tally,
            phase: Phase::Running,
            pending: FileLine::default(),
            has_pending: false,
            eof: false,
            failure: None,
        });
        Ok(())
    }

    pub(super) fn pause(&mut self) -> Result<(), ControlError> {
        let job = self.job.as_mut().ok_or(ControlError::NotPrinting)?;
        if job.phase == Phase::Running {
            job.phase = Phase::Pausing;
            let progress = job.tally.snapshot();
            self.emit(EngineEvent::PrintPausing(progress));
        }
        Ok(())
    }

    pub(super) fn resume(&mut self, run_script: bool) -> Result<(), ControlError> {
        let job = self.job.as_mut().ok_or(ControlError::NotPrinting)?;
        match job.phase {
            Phase::Paused => {
                job.phase = Phase::Running;
                let progress = job.tally.snapshot();
                if run_script {
                    let script = self.config.resume_script.clone();
                    self.queue_user_lines(script);
                }
                self.emit(EngineEvent::PrintResumed(progress));
                Ok(())
            }
            Phase::Pausing => {
                job.phase = Phase::Running;
                let progress = job.tally.snapshot();
                self.emit(EngineEvent::PrintResumed(progress));
                Ok(())
            }
            Phase::Running => Ok(()),
            Phase::Cancelling => Err(ControlError::NotPaused),
        }
    }

    pub(super) fn cancel(&mut self) -> Result<(), ControlError> {
        let job = self.job.as_mut().ok_or(ControlError::NotPrinting)?;
        if job.phase != Phase::Cancelling {
            job.phase = Phase::Cancelling;
            job.has_pending = false;
            let progress = job.tally.snapshot();
            self.emit(EngineEvent::PrintCancelling(progress));
        }
        Ok(())
    }

    /// Moves the print along once the firmware has acknowledged what it needs to.
    pub(super) fn advance_job(&mut self) {
        let drained = self.window.is_empty() && self.cursor == self.next_number;
        let Some(job) = &mut self.job else {
            return;
        };
        match job.phase {
            Phase::Pausing if drained => {
                job.phase = Phase::Paused;
                let progress = job.tally.snapshot();
                let script = self.config.pause_script.clone();
                self.queue_user_lines(script);
                tracing::info!("print paused");
                self.emit(EngineEvent::PrintPaused(progress));
            }
            Phase::Cancelling if drained => {
                let progress = job.tally.snapshot();
                let failure = job.failure.take();
                self.job = None;
                let mut script = self.config.cancel_script.clone();
                script.extend(["M104 S0".to_string(), "M140 S0".to_string()]);
                self.queue_user_lines(script);
                match failure {
                    Some(reason) => {
                        tracing::error!(%reason, last_acked_line = progress.last_acked_line, "print failed");
                        self.emit(EngineEvent::PrintFailed { reason, progress });
                    }
                    None => {
                        tracing::info!("print cancelled");
                        self.emit(EngineEvent::PrintCancelled(progress));
                    }
                }
            }
            Phase::Running if drained && job.eof && !job.has_pending => {
                let progress = job.tally.snapshot();
                self.job = None;
                tracing::info!(
                    lines = progress.lines_acked,
                    resends = progress.resends,
                    "print done"
                );
                self.emit(EngineEvent::PrintDone(progress));
            }
            _ => {}
        }
    }

    /// Reports the running print, if any, as failed because the session ended.
    pub(super) fn fail_print(&mut self, end: &SessionEnd) {
        if let Some(job) = self.job.take() {
            let progress = job.tally.snapshot();
            tracing::error!(
                reason = %end.reason(),
                last_acked_line = progress.last_acked_line,
                acked_offset = progress.acked_offset,
                "print failed"
            );
            self.emit(EngineEvent::PrintFailed {
                reason: end.reason(),
                progress,
            });
        }
    }
}
