//! `/api/printers`: state, connection, commands, print control and the bed-cleared confirmation.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use printfarm_core::identity::{Identity, Role};
use printfarm_serial::supervisor::Printer;
use printfarm_serial::terminal::TERMINAL_LINES;
use serde::Deserialize;

use super::auth::require;
use super::error::{ApiError, ApiResult, JsonBody, QueryParams};
use super::ApiState;
use crate::farm::PrinterSummary;

/// Every printer with its state, temperatures and progress, in config order.
#[utoipa::path(get, path = "/api/printers", tag = "printers",
    responses((status = 200, body = [Object], description = "printer summaries")))]
pub async fn list(State(state): State<ApiState>) -> ApiResult<Json<Vec<PrinterSummary>>> {
    Ok(Json(state.host.services.printer_summaries()))
}

/// One printer.
#[utoipa::path(get, path = "/api/printers/{id}", tag = "printers",
    params(("id" = String, Path, description = "printer id")),
    responses((status = 200, body = Object), (status = 404, description = "no such printer")))]
pub async fn get_one(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<PrinterSummary>> {
    let summary = state
        .host
        .services
        .printer_summary(&id)
        .ok_or_else(|| ApiError::not_found(format!("no printer with id `{id}`")))?;
    Ok(Json(summary))
}

/// How many temperature samples to return.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// The newest this many samples (default: all the printer keeps, about the last
    /// `TEMPERATURE_HISTORY` reports).
    pub limit: Option<usize>,
}

/// A printer's recent temperature samples, oldest first: what a temperature chart draws.
#[utoipa::path(get, path = "/api/printers/{id}/temperatures", tag = "printers",
    params(("id" = String, Path, description = "printer id"), HistoryQuery),
    responses((status = 200, body = [Object], description = "samples `{time_ms, readings}`"), (status = 404)))]
pub async fn temperatures(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<HistoryQuery>,
) -> ApiResult<Json<Vec<printfarm_serial::supervisor::TemperatureSample>>> {
    printer(&state, &id)?;
    let limit = q
        .limit
        .unwrap_or(printfarm_serial::supervisor::TEMPERATURE_HISTORY);
    Ok(Json(
        state.host.services.printers.temperature_history(&id, limit),
    ))
}

/// Which terminal lines to return.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TerminalQuery {
    /// Only lines after this sequence number (the `last_seq` of the previous answer; default 0:
    /// every line kept).
    #[serde(default)]
    pub after: u64,
    /// At most this many lines, the newest (default and most: `TERMINAL_LINES`, 500).
    pub limit: Option<usize>,
}

/// The printer's terminal: the last lines sent to and received from it over its serial link,
/// every `ok` and temperature report included, oldest first. Poll with `after` set to the
/// previous answer's `last_seq`; `skipped` says lines were lost in between.
#[utoipa::path(get, path = "/api/printers/{id}/terminal", tag = "printers",
    params(("id" = String, Path, description = "printer id"), TerminalQuery),
    responses((status = 200, body = Object,
        description = "`{lines: [{seq, time_ms, direction: sent|received, text}], last_seq, skipped}`"),
        (status = 404)))]
pub async fn terminal(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<TerminalQuery>,
) -> ApiResult<Json<printfarm_serial::terminal::TerminalPage>> {
    let limit = q.limit.unwrap_or(TERMINAL_LINES).min(TERMINAL_LINES);
    Ok(Json(printer(&state, &id)?.terminal().since(q.after, limit)))
}

/// A picture of the printer: its webcam's snapshot (`webcam-snapshot` in its config), or for a
/// virtual printer a frame the host draws of what it prints. `X-Printfarm-Generated: true` says
/// which.
#[utoipa::path(get, path = "/api/printers/{id}/snapshot", tag = "printers",
    params(("id" = String, Path, description = "printer id")),
    responses((status = 200, content_type = "image/jpeg", description = "the picture"),
        (status = 404, description = "no such printer, or it has no camera"),
        (status = 502, description = "the webcam did not answer with a JPEG")))]
pub async fn snapshot(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<axum::response::Response> {
    use crate::farm::camera::CameraError;
    use axum::response::IntoResponse;
    match state.host.services.cameras.snapshot(&id).await {
        Ok(shot) => Ok((
            [
                (axum::http::header::CONTENT_TYPE, shot.content_type),
                (axum::http::header::CACHE_CONTROL, "no-store".to_string()),
                (
                    axum::http::HeaderName::from_static("x-printfarm-generated"),
                    shot.generated.to_string(),
                ),
            ],
            shot.data,
        )
            .into_response()),
        Err(CameraError::UnknownPrinter(m) | CameraError::NoCamera(m)) => {
            Err(ApiError::not_found(m))
        }
        Err(CameraError::Internal(m)) => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, m)),
        Err(e) => Err(ApiError::new(StatusCode::BAD_GATEWAY, e.to_string())),
    }
}

fn printer<'a>(state: &'a ApiState, id: &str) -> ApiResult<&'a Printer> {
    state
        .host
        .services
        .printers
        .printer(id)
        .ok_or_else(|| ApiError::not_found(format!("no printer with id `{id}`")))
}

/// Connects a printer. For a printer held after an interrupted print this is the operator's
/// decision to talk to it again.
#[utoipa::path(post, path = "/api/printers/{id}/connect", tag = "printers",
    params(("id" = String, Path, description = "printer id")),
    responses((status = 204), (status = 403), (status = 404), (status = 409)))]
pub async fn connect(
    State(state): State<ApiState>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    require(&who, Role::Operator)?;
    let p = printer(&state, &id)?;
    // For a held printer this is the operator's decision to talk to it again.
    state.host.services.printers.release(&id, true).await;
    p.connect().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Disconnects a printer.
#[utoipa::path(post, path = "/api/printers/{id}/disconnect", tag = "printers",
    params(("id" = String, Path, description = "printer id")),
    responses((status = 204), (status = 403), (status = 404), (status = 409)))]
pub async fn disconnect(
    State(state): State<ApiState>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    require(&who, Role::Operator)?;
    printer(&state, &id)?.disconnect().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// G-code lines to send.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Commands {
    /// Lines, sent in order at the next line boundary (also during a print).
    pub commands: Vec<String>,
}

/// Sends G-code lines.
#[utoipa::path(post, path = "/api/printers/{id}/commands", tag = "printers",
    params(("id" = String, Path, description = "printer id")), request_body = Commands,
    responses((status = 204), (status = 400), (status = 403), (status = 404), (status = 409)))]
pub async fn commands(
    State(state): State<ApiState>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Commands>,
) -> ApiResult<StatusCode> {
    require(&who, Role::Operator)?;
    let p = printer(&state, &id)?;
    if body.commands.is_empty() {
        return Err(ApiError::bad_request(
            "`commands` is empty; give at least one G-code line",
        ));
    }
    if let Some(bad) = body.commands.iter().find(|c| c.contains(['\n', '\r'])) {
        return Err(ApiError::bad_request(format!(
            "command {bad:?} holds a line break; give one line per list item"
        )));
    }
    p.send(body.commands).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Confirms a printer's bed is clear: the next queued task may start on it.
#[utoipa::path(post, path = "/api/printers/{id}/bed-cleared", tag = "printers",
    params(("id" = String, Path, description = "printer id")),
    responses((status = 204), (status = 403), (status = 404)))]
pub async fn bed_cleared(
    State(state): State<ApiState>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    require(&who, Role::Operator)?;
    printer(&state, &id)?;
    state.host.services.queue.set_bed_clear(&id, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Pauses the running print. The pause is recorded in the print's history as the caller's
/// (`user:<name>`).
#[utoipa::path(post, path = "/api/printers/{id}/pause", tag = "printers",
    params(("id" = String, Path, description = "printer id")),
    responses((status = 204), (status = 403), (status = 404), (status = 409)))]
pub async fn pause(
    State(state): State<ApiState>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    require(&who, Role::Operator)?;
    printer(&state, &id)?;
    let by = format!("user:{}", who.user);
    state.host.services.scheduler.pause(&id, &by, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Resumes a paused print, closing its pause in the print's history.
#[utoipa::path(post, path = "/api/printers/{id}/resume", tag = "printers",
    params(("id" = String, Path, description = "printer id")),
    responses((status = 204), (status = 403), (status = 404), (status = 409)))]
pub async fn resume(
    State(state): State<ApiState>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    require(&who, Role::Operator)?;
    printer(&state, &id)?;
    state.host.services.scheduler.resume(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Cancels the running print (its task is recorded as cancelled).
#[utoipa::path(post, path = "/api/printers/{id}/cancel", tag = "printers",
    params(("id" = String, Path, description = "printer id")),
    responses((status = 204), (status = 403), (status = 404), (status = 409)))]
pub async fn cancel(
    State(state): State<ApiState>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    require(&who, Role::Operator)?;
    printer(&state, &id)?.cancel().await?;
    Ok(StatusCode::NO_CONTENT)
}
