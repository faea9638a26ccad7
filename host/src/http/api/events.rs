//! `/api/events`: the farm's live events as Server-Sent Events, for the dashboard and any API
//! consumer. See [`crate::events::stream`] for numbering, resume and coalescing.

use std::convert::Infallible;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures::stream::{self, Stream, StreamExt};
use printfarm_core::identity::{Identities, Identity, Role};
use serde::Deserialize;
use tokio::sync::broadcast;

use super::auth::key_of;
use super::error::{ApiError, ApiResult, QueryParams};
use super::session::SessionToken;
use super::ApiState;
use crate::events::stream::{StreamEvent, Subscription, KINDS, RESYNC};

/// How often an idle stream sends a comment, so that proxies keep it open and a dead client is
/// noticed.
const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(15);

/// How often an open stream checks that its credentials still hold: a revoked session or key,
/// or a deleted user, ends it within this time.
const RECHECK: std::time::Duration = std::time::Duration::from_secs(5);

/// The query of `GET /api/events`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only these kinds, comma-separated (`printer-state,print`); default every kind.
    /// `resync` is always sent.
    pub types: Option<String>,
    /// Resume after this event id, for clients that cannot send the `Last-Event-ID` header.
    pub last_event_id: Option<u64>,
}

/// The farm's live events (`text/event-stream`). Each event has an `id:`, an `event:` naming
/// its kind and one JSON `data:` line:
///
/// - `printer-state` `{printer, previous, state, reason}`;
/// - `temperatures` `{printers: {<id>: {time, readings}}}`, each printer's latest readings,
///   at most once a second;
/// - `progress` `{printers: {<id>: {file, fraction, file_pos, file_size, elapsed_secs,
///   remaining_secs, resends}}}`, likewise coalesced, and sent before a print event of the printer;
/// - `print` `{printer, phase, file, task_id, elapsed_secs, reason}`;
/// - `printer-log` `{printer, line}`; `files` `{path, change}`; `jobs` `{job_id, what}`;
/// - `plugin` `{plugin, state, reason}`; `key-request` `{app, user, state}` (admins only);
/// - `resync` `{reason}`: events were missed, reload what you show.
///
/// Reconnect with `Last-Event-ID` to get what was missed (the last few thousand events are
/// kept). A client that falls more than a thousand events behind is sent `dropped` with the
/// reason and disconnected; it may reconnect with `Last-Event-ID`. A stream ends within seconds
/// of its session or key being revoked.
#[utoipa::path(get, path = "/api/events", tag = "events", params(EventsQuery,
        ("Last-Event-ID" = Option<u64>, Header, description = "resume after this event id")),
    responses(
        (status = 200, content_type = "text/event-stream", description = "the event stream"),
        (status = 400, description = "an unknown kind in `types`, or a bad `Last-Event-ID`")))]
pub async fn stream(
    State(state): State<ApiState>,
    Extension(who): Extension<Identity>,
    session: Option<Extension<SessionToken>>,
    headers: HeaderMap,
    QueryParams(query): QueryParams<EventsQuery>,
) -> ApiResult<Response> {
    let mut kinds = match &query.types {
        None => KINDS.to_vec(),
        Some(list) => parse_kinds(list)?,
    };
    // Key requests are listed to admins only; so are their events.
    if who.role < Role::Admin {
        kinds.retain(|k| *k != "key-request");
    }
    let kinds = Some(kinds);
    let after = match headers.get("last-event-id") {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "Last-Event-ID must be the id of an event this stream sent (a number)",
                    )
                })?,
        ),
        None => query.last_event_id,
    };
    let sub = state.host.services.stream.subscribe(after);
    let revoked = revoked(
        state.host.services.identities.clone(),
        session.map(|Extension(SessionToken(token))| token),
        key_of(&headers),
    );
    Ok(Sse::new(events(sub, kinds).take_until(revoked))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}

/// Resolves once the credentials the stream was opened with no longer hold (the key wins over
/// the session, as in authentication).
async fn revoked(ids: Identities, session: Option<String>, key: Option<String>) {
    loop {
        tokio::time::sleep(RECHECK).await;
        let valid = match (&key, &session) {
            (Some(key), _) => ids.verify_api_key(key).await,
            (None, Some(token)) => ids.check_session(token).await,
            (None, None) => return,
        };
        // A database error is not a revocation: checked again next time.
        if matches!(valid, Ok(None)) {
            return;
        }
    }
}

fn parse_kinds(list: &str) -> ApiResult<Vec<&'static str>> {
    list.split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(|k| {
            KINDS
                .iter()
                .copied()
                .find(|known| *known == k)
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "unknown event kind `{k}` in `types`; the kinds are {}",
                        KINDS.join(", ")
                    ))
                })
        })
        .collect()
}

fn sse(event: &StreamEvent) -> Event {
    Event::default()
        .id(event.id.to_string())
        .event(event.kind)
        .data(&event.data)
}

/// The replay, a `resync` if the client missed what the ring no longer holds, then the live
/// events; a client that lags is sent `dropped` and the stream ends.
fn events(
    sub: Subscription,
    kinds: Option<Vec<&'static str>>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let wanted = move |e: &StreamEvent| {
        e.kind == RESYNC || kinds.as_ref().is_none_or(|k| k.contains(&e.kind))
    };
    let wanted_live = wanted.clone();
    let gap = sub.gap.then(|| {
        Event::default()
            .event(RESYNC)
            .data(r#"{"reason":"events after your Last-Event-ID are no longer kept"}"#)
    });
    let replay = stream::iter(
        sub.replay
            .into_iter()
            .filter(move |e| wanted(e))
            .map(|e| sse(&e))
            .chain(gap),
    );
    let live = stream::unfold(Some(sub.live), move |rx| {
        let wanted = wanted_live.clone();
        async move {
            let mut rx = rx?;
            loop {
                match rx.recv().await {
                    Ok(e) if wanted(&e) => return Some((sse(&e), Some(rx))),
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        let data = serde_json::json!({
                            "reason": format!(
                                "this client fell {missed} events behind the farm; reconnect with Last-Event-ID to resume"
                            )
                        });
                        return Some((
                            Event::default().event("dropped").data(data.to_string()),
                            None,
                        ));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        }
    });
    replay.chain(live).map(Ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::stream::{EventStream, CLIENT_BACKLOG};
    use serde_json::json;

    async fn frames(stream: impl Stream<Item = Result<Event, Infallible>>) -> Vec<String> {
        stream
            .map(|e| format!("{:?}", e.unwrap()))
            .collect::<Vec<_>>()
            .await
    }

    #[tokio::test]
    async fn a_client_that_fell_behind_is_told_why_and_the_stream_ends() {
        let hub = EventStream::default();
        let sub = hub.subscribe(None);
        for i in 0..CLIENT_BACKLOG + 10 {
            hub.publish("jobs", &json!({ "n": i }));
        }
        drop(hub);
        let out = frames(events(sub, None)).await;
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(
            out[0].contains("dropped") && out[0].contains("fell 10 events behind"),
            "{out:?}"
        );
    }

    #[tokio::test]
    async fn the_filter_keeps_the_asked_kinds_and_always_resync() {
        let hub = EventStream::default();
        hub.publish("jobs", &json!({}));
        hub.publish("print", &json!({}));
        hub.publish(RESYNC, &json!({}));
        let sub = hub.subscribe(Some(0));
        drop(hub);
        let out = frames(events(sub, Some(vec!["print"]))).await;
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(
            out[0].contains("print") && out[1].contains("resync"),
            "{out:?}"
        );
        assert!(parse_kinds("print, jobs").is_ok());
        assert!(parse_kinds("print,rain").is_err());
    }
}
