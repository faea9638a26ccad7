//! From an HTTP request to a plugin call and back.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, State, WebSocketUpgrade};
use axum::http::{header, HeaderName, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::{call_error, core_status, json_error};
use super::library_file;
use super::staging::{read_limited, stage_multipart, Staged, StagingError};
use super::ListenerState;
use crate::plugin::Capability;
use crate::runtime::bindings::{FormField, Header, WitBody, WitRequest, WitResponse};
use crate::runtime::state::{CallContext, PluginContext};

/// Collapses runs of `/` (Home Assistant calls `//api/printer/bed`).
pub fn normalize_path(path: &str) -> std::borrow::Cow<'_, str> {
    if !path.contains("//") {
        return path.into();
    }
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && out.ends_with('/')) {
            out.push(c);
        }
    }
    out.into()
}

/// The fallback handler of every listener: routes to a plugin or answers 404/405.
pub async fn dispatch(
    State(state): State<Arc<ListenerState>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let path = normalize_path(request.uri().path()).into_owned();
    let is_upgrade = request
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if is_upgrade {
        if let Some(m) = state.table.find_push(&path) {
            let (target, params) = (m.target.clone(), m.params);
            let (mut parts, _) = request.into_parts();
            return match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
                Ok(ws) => {
                    super::push::upgrade(state.host.clone(), ws, &parts, target, params, remote)
                }
                Err(rejection) => rejection.into_response(),
            };
        }
    }
    let Some(matched) = state.table.find_http(&path) else {
        return json_error(StatusCode::NOT_FOUND, format!("no route for {path}"));
    };
    let method = request.method().as_str().to_string();
    let Some(route) = matched.target.route_for(&method).map(str::to_string) else {
        let allowed = matched.target.allowed().to_header();
        let mut r = json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} is not allowed on {path}; allowed: {allowed}"),
        );
        if let Ok(v) = HeaderValue::from_str(&allowed) {
            r.headers_mut().insert(header::ALLOW, v);
        }
        return r;
    };
    let plugin = state.host.plugins[matched.target.plugin].clone();
    let limits = &plugin.ctx.limits;

    if request.headers().len() > limits.max_headers as usize {
        return json_error(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!(
                "{} headers exceed the limit of {}",
                request.headers().len(),
                limits.max_headers
            ),
        );
    }

    let base_url = format!(
        "{}://{}",
        request.uri().scheme_str().unwrap_or("http"),
        request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost")
    );
    let headers: Vec<Header> = request
        .headers()
        .iter()
        .map(|(k, v)| Header {
            name: k.as_str().to_string(),
            value: String::from_utf8_lossy(v.as_bytes()).into_owned(),
        })
        .collect();
    let query = request.uri().query().unwrap_or("").to_string();
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = request.into_body();

    let mut staged = Staged::default();
    let mut raw = Vec::new();
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let result = if mime == "multipart/form-data" {
        match multer::parse_boundary(&content_type) {
            Ok(boundary) => stage_multipart(
                body,
                boundary,
                &state.host.staging_dir,
                state.host.upload_limit,
                limits.max_body_bytes,
            )
            .await
            .map(|s| staged = s),
            Err(e) => Err(StagingError::Malformed(e.to_string())),
        }
    } else {
        read_limited(body, limits.max_body_bytes)
            .await
            .map(|b| raw = b)
    };
    if let Err(e) = result {
        let status = match e {
            StagingError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            StagingError::Malformed(_) => StatusCode::BAD_REQUEST,
            StagingError::Io(_) => {
                tracing::error!(error = %e, "staging an upload failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let mut response = json_error(status, e.to_string());
        // The rest of the body was not read: the connection cannot carry another request.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return response;
    }
    if mime == "application/x-www-form-urlencoded" {
        staged.form = url::form_urlencoded::parse(&raw)
            .map(|(name, value)| FormField {
                name: name.into_owned(),
                value: value.into_owned(),
            })
            .collect();
    }

    let wit_request = WitRequest {
        method,
        path,
        route,
        params: matched.params,
        query,
        headers,
        body: raw,
        form: staged.form,
        uploads: staged.uploads,
        printer: matched.target.printer.clone(),
        mount: matched.target.mount.clone(),
        base_url,
        remote_addr: remote.to_string(),
    };
    let call = CallContext {
        printer: matched.target.printer.clone(),
        uploads: staged.files.into_iter().collect(),
    };
    match plugin.handle_http(call, &wit_request).await {
        Ok(response) => into_response(&plugin.ctx, response, limits.max_headers as usize).await,
        Err(e) => call_error(&e),
    }
}

/// Turns a plugin's response into an HTTP response, checking what the plugin produced.
async fn into_response(ctx: &PluginContext, r: WitResponse, max_headers: usize) -> Response {
    let plugin = ctx.id.as_str();
    let Ok(status) = StatusCode::from_u16(r.status) else {
        return json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "plugin `{plugin}` answered with invalid status {}",
                r.status
            ),
        );
    };
    if r.headers.len() > max_headers {
        return json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "plugin `{plugin}` answered with {} headers, over its limit of {max_headers}",
                r.headers.len()
            ),
        );
    }
    let mut library_size = None;
    let body = match r.body {
        WitBody::Empty => Body::empty(),
        WitBody::Bytes(bytes) => Body::from(bytes),
        WitBody::LibraryFile(path) => match library_file(ctx, &path).await {
            Ok((body, size)) => {
                library_size = Some(size);
                body
            }
            Err(refused) => return refused,
        },
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    for h in r.headers {
        match (
            HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_str(&h.value),
        ) {
            (Ok(name), Ok(value)) => {
                response.headers_mut().append(name, value);
            }
            _ => tracing::warn!(plugin, header = %h.name, "plugin sent an invalid header; dropped"),
        }
    }
    if let Some(size) = library_size {
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
        headers
            .entry(header::CONTENT_TYPE)
            .or_insert(HeaderValue::from_static(library_file::GCODE_CONTENT_TYPE));
    }
    response
}

/// A library file a plugin answered with, streamed from disk (the plugin needs `files.read`).
async fn library_file(ctx: &PluginContext, path: &str) -> Result<(Body, u64), Response> {
    let plugin = &ctx.id;
    if ctx.require(Capability::FilesRead).is_err() {
        return Err(json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("plugin `{plugin}` answered with library file `{path}` without the files.read capability"),
        ));
    }
    match library_file::open(&ctx.services.library, path).await {
        Ok((entry, body)) => Ok((body, entry.size)),
        Err(e) => Err(json_error(core_status(&e), e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapses_slashes() {
        assert_eq!(normalize_path("//api//printer/bed"), "/api/printer/bed");
        assert_eq!(normalize_path("/api/job"), "/api/job");
    }
}
