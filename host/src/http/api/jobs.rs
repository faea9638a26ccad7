//! `/api/jobs`, `/api/tasks`, `/api/queue` and `/api/history`: the persistent job queue.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use printfarm_core::identity::{Identity, Role};
use printfarm_core::queue::{Job, JobSpec, PrintRecord, Task};
use serde::{Deserialize, Serialize};

use super::auth::require;
use super::error::{ApiResult, JsonBody, QueryParams};
use super::ApiState;

/// Jobs with queued, printing or interrupted tasks, in the order they will print.
#[utoipa::path(get, path = "/api/jobs", tag = "jobs", responses((status = 200, body = [Job])))]
pub async fn list(State(state): State<ApiState>) -> ApiResult<Json<Vec<Job>>> {
    Ok(Json(state.host.services.queue.jobs().await?))
}

/// Queues a job: a library file, a number of copies, a priority and where it may print.
#[utoipa::path(post, path = "/api/jobs", tag = "jobs", request_body = JobSpec,
    responses((status = 201, body = Job), (status = 400), (status = 403), (status = 404)))]
pub async fn enqueue(
    State(state): State<ApiState>,
    Extension(who): Extension<Identity>,
    JsonBody(spec): JsonBody<JobSpec>,
) -> ApiResult<(StatusCode, Json<Job>)> {
    require(&who, Role::Operator)?;
    let job = state
        .host
        .services
        .queue
        .enqueue(spec, Some(&who.user))
        .await?;
    Ok((StatusCode::CREATED, Json(job)))
}

/// One job with its tasks.
#[utoipa::path(get, path = "/api/jobs/{id}", tag = "jobs", params(("id" = i64, Path, description = "job id")),
    responses((status = 200, body = Job), (status = 404)))]
pub async fn get_one(State(state): State<ApiState>, Path(id): Path<i64>) -> ApiResult<Json<Job>> {
    Ok(Json(state.host.services.queue.job(id).await?))
}

/// Cancels a job: queued copies are dropped, running ones cancelled on their printers.
#[utoipa::path(post, path = "/api/jobs/{id}/cancel", tag = "jobs", params(("id" = i64, Path, description = "job id")),
    responses((status = 200, body = Job), (status = 403), (status = 404)))]
pub async fn cancel(
    State(state): State<ApiState>,
    Extension(who): Extension<Identity>,
    Path(id): Path<i64>,
) -> ApiResult<Json<Job>> {
    require(&who, Role::Operator)?;
    let services = &state.host.services;
    let reason = format!("cancelled by {}", who.user);
    for (task, printer) in services.queue.cancel(id, &reason).await? {
        if let Some(p) = services.printers.printer(&printer) {
            if let Err(e) = p.cancel().await {
                tracing::warn!(%printer, task, error = %e, "cancelling a running copy failed");
            }
        }
    }
    Ok(Json(services.queue.job(id).await?))
}

/// A new priority.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Priority {
    /// Higher runs first.
    pub priority: i32,
}

/// Changes a job's priority (reorders the queue).
#[utoipa::path(put, path = "/api/jobs/{id}/priority", tag = "jobs", params(("id" = i64, Path, description = "job id")),
    request_body = Priority, responses((status = 200, body = Job), (status = 400), (status = 403), (status = 404)))]
pub async fn set_priority(
    State(state): State<ApiState>,
    Extension(who): Extension<Identity>,
    Path(id): Path<i64>,
    JsonBody(body): JsonBody<Priority>,
) -> ApiResult<Json<Job>> {
    require(&who, Role::Operator)?;
    state
        .host
        .services
        .queue
        .set_priority(id, body.priority)
        .await?;
    Ok(Json(state.host.services.queue.job(id).await?))
}

/// One task.
#[utoipa::path(get, path = "/api/tasks/{id}", tag = "jobs", params(("id" = i64, Path, description = "task id")),
    responses((status = 200, body = Task), (status = 404)))]
pub async fn task(State(state): State<ApiState>, Path(id): Path<i64>) -> ApiResult<Json<Task>> {
    Ok(Json(state.host.services.queue.task(id).await?))
}

/// Releases printers no interrupted task holds any more.
async fn release_decided(state: &ApiState) -> ApiResult<()> {
    let services = &state.host.services;
    let held = services.queue.held_printers().await?;
    let ids: Vec<String> = services.printers.ids().map(str::to_string).collect();
    for id in ids {
        if !held.contains(&id) && services.printers.hold(&id).is_some() {
            services.printers.release(&id, false).await;
        }
    }
    Ok(())
}

/// Queues a failed, cancelled or interrupted task again (for an interrupted one, this is the
/// operator's decision: its printer is released).
#[utoipa::path(post, path = "/api/tasks/{id}/retry", tag = "jobs", params(("id" = i64, Path, description = "task id")),
    responses((status = 200, body = Task), (status = 403), (status = 404), (status = 409)))]
pub async fn retry(
    State(state): State<ApiState>,
    Extension(who): Extension<Identity>,
    Path(id): Path<i64>,
) -> ApiResult<Json<Task>> {
    require(&who, Role::Operator)?;
    let task = state.host.services.queue.retry(id).await?;
    release_decided(&state).await?;
    Ok(Json(task))
}

/// Leaves an interrupted task as it is and releases its printer.
#[utoipa::path(post, path = "/api/tasks/{id}/dismiss", tag = "jobs", params(("id" = i64, Path, description = "task id")),
    responses((status = 200, body = Task), (status = 403), (status = 404), (status = 409)))]
pub async fn dismiss(
    State(state): State<ApiState>,
    Extension(who): Extension<Identity>,
    Path(id): Path<i64>,
) -> ApiResult<Json<Task>> {
    require(&who, Role::Operator)?;
    let task = state.host.services.queue.dismiss(id).await?;
    release_decided(&state).await?;
    Ok(Json(task))
}

/// Whether the queue hands out tasks.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueState {
    /// Paused: printers claim nothing new (running prints go on).
    pub paused: bool,
}

/// The queue's state.
#[utoipa::path(get, path = "/api/queue", tag = "jobs", responses((status = 200, body = QueueState)))]
pub async fn queue_state(State(state): State<ApiState>) -> ApiResult<Json<QueueState>> {
    Ok(Json(QueueState {
        paused: state.host.services.queue.paused(),
    }))
}

/// Pauses or resumes the queue.
#[utoipa::path(put, path = "/api/queue", tag = "jobs", request_body = QueueState,
    responses((status = 200, body = QueueState), (status = 400), (status = 403)))]
pub async fn set_queue_state(
    State(state): State<ApiState>,
    Extension(who): Extension<Identity>,
    JsonBody(body): JsonBody<QueueState>,
) -> ApiResult<Json<QueueState>> {
    require(&who, Role::Operator)?;
    state.host.services.queue.set_paused(body.paused).await?;
    Ok(Json(body))
}

/// Which history.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Only this printer's prints.
    pub printer: Option<String>,
    /// Only prints of this library file.
    pub file: Option<String>,
    /// At most this many (default 100).
    pub limit: Option<u32>,
}

/// Print attempts, newest first: every task's prints with their printer and how they ended.
#[utoipa::path(get, path = "/api/history", tag = "jobs", params(HistoryQuery),
    responses((status = 200, body = [PrintRecord]), (status = 400)))]
pub async fn history(
    State(state): State<ApiState>,
    QueryParams(q): QueryParams<HistoryQuery>,
) -> ApiResult<Json<Vec<PrintRecord>>> {
    Ok(Json(
        state
            .host
            .services
            .queue
            .history(
                q.printer.as_deref(),
                q.file.as_deref(),
                q.limit.unwrap_or(100),
            )
            .await?,
    ))
}
