//! `printfarm:plugin/jobs`: reading needs `jobs.read`, changes need `jobs.write`.
//!
//! The core's persistent queue; ids cross the boundary as decimal strings.

use super::super::bindings::printfarm::plugin::jobs::{
    self, JobInfo, JobSpec, Placement, TaskInfo, TaskState,
};
use super::super::bindings::HostError;
use super::super::context::cap;
use super::super::state::CallState;
use super::core_error;
use printfarm_core::queue;

fn state(s: queue::TaskState) -> TaskState {
    match s {
        queue::TaskState::Queued => TaskState::Queued,
        queue::TaskState::Printing => TaskState::Running,
        queue::TaskState::Done => TaskState::Done,
        queue::TaskState::Failed => TaskState::Failed,
        queue::TaskState::Cancelled => TaskState::Cancelled,
        queue::TaskState::Interrupted => TaskState::Interrupted,
    }
}

fn ms(v: Option<i64>) -> Option<u64> {
    v.map(|v| v.max(0) as u64)
}

fn task_info(t: &queue::Task) -> TaskInfo {
    TaskInfo {
        id: t.id.to_string(),
        job_id: t.job_id.to_string(),
        copy: t.copy,
        printer: t.printer.clone(),
        state: state(t.state),
        started: ms(t.started_ms),
        finished: ms(t.finished_ms),
        file_pos: t.file_pos,
        reason: t.reason.clone(),
    }
}

fn job_info(j: &queue::Job) -> JobInfo {
    JobInfo {
        id: j.id.to_string(),
        spec: JobSpec {
            file: j.file.clone(),
            copies: j.copies,
            priority: j.priority,
            placement: Placement {
                printers: j.placement.printers.clone(),
                tags: j.placement.tags.clone(),
            },
        },
        created: j.created_ms.max(0) as u64,
        tasks: j.tasks.iter().map(task_info).collect(),
    }
}

/// A print attempt of the history as a task record of that attempt.
fn attempt_info(p: &queue::PrintRecord) -> TaskInfo {
    TaskInfo {
        id: p.task_id.to_string(),
        job_id: p.job_id.to_string(),
        copy: p.copy,
        printer: Some(p.printer.clone()),
        state: state(p.outcome),
        started: Some(p.started_ms.max(0) as u64),
        finished: ms(p.finished_ms),
        file_pos: Some(p.file_pos),
        reason: p.reason.clone(),
    }
}

fn id(s: &str, what: &str) -> Result<i64, HostError> {
    s.parse()
        .map_err(|_| HostError::Invalid(format!("`{s}` is not a {what} id (ids are numbers)")))
}

impl jobs::Host for CallState {
    async fn enqueue(&mut self, spec: JobSpec) -> Result<JobInfo, HostError> {
        let queue = self.plugin.grant::<cap::JobsWrite>()?.queue();
        let spec = queue::JobSpec {
            file: spec.file,
            copies: spec.copies,
            priority: spec.priority,
            placement: queue::Placement {
                printers: spec.placement.printers,
                tags: spec.placement.tags,
            },
        };
        let job = queue
            .enqueue(spec, Some(&format!("plugin:{}", self.plugin.id)))
            .await
            .map_err(core_error)?;
        Ok(job_info(&job))
    }
    async fn list(&mut self) -> Result<Vec<JobInfo>, HostError> {
        let jobs = self
            .plugin
            .grant::<cap::JobsRead>()?
            .queue()
            .jobs()
            .await
            .map_err(core_error)?;
        Ok(jobs.iter().map(job_info).collect())
    }
    async fn get(&mut self, job: String) -> Result<JobInfo, HostError> {
        let queue = self.plugin.grant::<cap::JobsRead>()?.queue();
        let job = queue.job(id(&job, "job")?).await.map_err(core_error)?;
        Ok(job_info(&job))
    }
    async fn cancel(&mut self, job: String) -> Result<(), HostError> {
        let jobs = self.plugin.grant::<cap::JobsWrite>()?;
        let reason = format!("cancelled by plugin {}", self.plugin.id);
        let running = jobs
            .queue()
            .cancel(id(&job, "job")?, &reason)
            .await
            .map_err(core_error)?;
        for (task, printer) in running {
            if let Some(p) = jobs.printers().printer(&printer) {
                if let Err(e) = p.cancel().await {
                    tracing::warn!(%printer, task, error = %e, "cancelling a running copy failed");
                }
            }
        }
        Ok(())
    }
    async fn set_priority(&mut self, job: String, priority: i32) -> Result<(), HostError> {
        let queue = self.plugin.grant::<cap::JobsWrite>()?.queue();
        queue
            .set_priority(id(&job, "job")?, priority)
            .await
            .map_err(core_error)
    }
    async fn retry_task(&mut self, task_id: String) -> Result<(), HostError> {
        let queue = self.plugin.grant::<cap::JobsWrite>()?.queue();
        queue
            .retry(id(&task_id, "task")?)
            .await
            .map(|_| ())
            .map_err(core_error)
    }
    async fn history(
        &mut self,
        printer: Option<String>,
        file: Option<String>,
        limit: u32,
    ) -> Result<Vec<TaskInfo>, HostError> {
        let queue = self.plugin.grant::<cap::JobsRead>()?.queue();
        let records = queue
            .history(printer.as_deref(), file.as_deref(), limit)
            .await
            .map_err(core_error)?;
        Ok(records.iter().map(attempt_info).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_denied, Harness};
    use super::*;

    fn spec(file: &str, copies: u32) -> JobSpec {
        JobSpec {
            file: file.into(),
            copies,
            priority: 0,
            placement: Placement {
                printers: Vec::new(),
                tags: Vec::new(),
            },
        }
    }

    #[tokio::test]
    async fn reading_and_queueing_are_separate_capabilities() {
        let harness = Harness::new().await;
        let mut reader = harness.granted(&["jobs.read"]);
        assert!(jobs::Host::list(&mut reader).await.unwrap().is_empty());
        assert_denied(
            jobs::Host::enqueue(&mut reader, spec("a.gcode", 1)).await,
            "jobs.write",
        );
        assert_denied(
            jobs::Host::cancel(&mut reader, "1".into()).await,
            "jobs.write",
        );
        let mut none = harness.granted(&[]);
        assert_denied(jobs::Host::list(&mut none).await, "jobs.read");
    }

    #[tokio::test]
    async fn unknown_jobs_are_not_found_and_unplaceable_jobs_invalid() {
        let harness = Harness::new().await;
        let mut call = harness.granted(&["jobs.read", "jobs.write"]);
        match jobs::Host::get(&mut call, "999".into()).await {
            Err(HostError::NotFound(_)) | Err(HostError::Invalid(_)) => {}
            other => panic!("{other:?}"),
        }
        // The scratch farm has no printer, so no placement can be met.
        match jobs::Host::enqueue(&mut call, spec("missing.gcode", 1)).await {
            Err(HostError::Invalid(message)) => assert!(message.contains("placement"), "{message}"),
            other => panic!("{other:?}"),
        }
    }
}
