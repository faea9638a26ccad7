//! `printfarm:plugin/jobs`: reading needs `jobs.read`, changes need `jobs.write`.
//!
//! The job queue is not part of this build: calls check their capability, then answer `unavailable`.

use super::super::bindings::printfarm::plugin::jobs::{self, JobInfo, JobSpec, TaskInfo};
use super::super::bindings::HostError;
use super::super::state::CallState;
use crate::plugin::Capability;

impl CallState {
    fn queue_call<T>(&self, cap: Capability) -> Result<T, HostError> {
        self.core_unavailable(cap, "the job queue is")
    }
}

impl jobs::Host for CallState {
    async fn enqueue(&mut self, _spec: JobSpec) -> Result<JobInfo, HostError> {
        self.queue_call(Capability::JobsWrite)
    }
    async fn list(&mut self) -> Result<Vec<JobInfo>, HostError> {
        self.queue_call(Capability::JobsRead)
    }
    async fn get(&mut self, _id: String) -> Result<JobInfo, HostError> {
        self.queue_call(Capability::JobsRead)
    }
    async fn cancel(&mut self, _id: String) -> Result<(), HostError> {
        self.queue_call(Capability::JobsWrite)
    }
    async fn set_priority(&mut self, _id: String, _priority: i32) -> Result<(), HostError> {
        self.queue_call(Capability::JobsWrite)
    }
    async fn retry_task(&mut self, _task_id: String) -> Result<(), HostError> {
        self.queue_call(Capability::JobsWrite)
    }
    async fn history(
        &mut self,
        _printer: Option<String>,
        _file: Option<String>,
        _limit: u32,
    ) -> Result<Vec<TaskInfo>, HostError> {
        self.queue_call(Capability::JobsRead)
    }
}
