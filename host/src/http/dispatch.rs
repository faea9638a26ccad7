//! From an HTTP request to a plugin call and back.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, State, WebSocketUpgrade};
use axum::http::request::Parts;
use axum::http::{header, HeaderName, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};

use super::api::session;
use super::error::{call_error, core_status, json_error};
use super::library_file;
use super::staging::{read_limited, stage_multipart, Staged, StagingError};
use super::ListenerState;
use crate::plugin::Capability;
use crate::router::table::Matched;
use crate::runtime::bindings::{FormField, Header, WitBody, WitRequest, WitResponse};
use crate::runtime::context::cap;
use crate::runtime::context::PluginContext;
use crate::runtime::state::CallContext;

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

/// The fallback handler of every listener: a websocket upgrade on a push route goes to the
/// plugin's push channel; anything else is routed (`route`), checked, its body read
/// (`read_body`), turned into the WIT request (`wit_request`) and handed to the plugin,
/// whose answer is checked on the way back (`into_response`). Each step answers a refusal
/// itself (404, 405, 413, 431, 400…).
pub async fn dispatch(
    State(state): State<Arc<ListenerState>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let path = normalize_path(request.uri().path()).into_owned();
    if is_websocket_upgrade(&request) {
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
    match serve_http(&state, path, remote, request).await {
        Ok(response) | Err(response) => response,
    }
}

fn is_websocket_upgrade(request: &Request<Body>) -> bool {
    request
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// An HTTP request to a plugin route, from the route to the plugin's checked answer.
async fn serve_http(
    state: &ListenerState,
    path: String,
    remote: SocketAddr,
    request: Request<Body>,
) -> Result<Response, Response> {
    let (matched, route) = route(state, &path, request.method().as_str())?;
    let plugin = state.host.plugins[matched.target.plugin].clone();
    let limits = &plugin.ctx.limits;
    if request.headers().len() > limits.max_headers as usize {
        return Err(json_error(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!(
                "{} headers exceed the limit of {}",
                request.headers().len(),
                limits.max_headers
            ),
        ));
    }
    let (parts, body) = request.into_parts();
    // Plugins that may check identities learn who is logged in to the dashboard, so their own
    // pages work in the browser that shows it.
    let dashboard_user = if plugin
        .ctx
        .grants
        .check(plugin.id(), Capability::Auth)
        .is_ok()
    {
        let reads = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        session::dashboard_identity(&state.host.services.identities, reads, &parts.headers).await
    } else {
        None
    };
    let (raw, staged) = read_body(state, &parts, body, limits.max_body_bytes).await?;
    let (mut wit_request, call) = wit_request(&parts, path, route, matched, raw, staged, remote);
    if let Some(identity) = dashboard_user {
        for (name, value) in [
            (session::DASHBOARD_USER_HEADER, identity.user),
            (session::DASHBOARD_ROLE_HEADER, identity.role.to_string()),
        ] {
            wit_request.headers.push(Header {
                name: name.to_string(),
                value,
            });
        }
    }
    match plugin.handle_http(call, &wit_request).await {
        Ok(response) => Ok(into_response(&plugin.ctx, response, limits.max_headers as usize).await),
        Err(e) => Err(call_error(&e)),
    }
}

/// The route of the table that serves `method` on `path`; 404 or 405 (with `Allow`) otherwise.
// The refusal is the response itself, made once on the cold path; boxing it would gain nothing.
#[allow(clippy::result_large_err)]
fn route<'a>(
    state: &'a ListenerState,
    path: &str,
    method: &str,
) -> Result<(Matched<'a>, String), Response> {
    let Some(matched) = state.table.find_http(path) else {
        return Err(json_error(
            StatusCode::NOT_FOUND,
            format!("no route for {path}"),
        ));
    };
    let Some(route) = matched.target.route_for(method).map(str::to_string) else {
        let allowed = matched.target.allowed().to_header();
        let mut r = json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} is not allowed on {path}; allowed: {allowed}"),
        );
        if let Ok(v) = HeaderValue::from_str(&allowed) {
            r.headers_mut().insert(header::ALLOW, v);
        }
        return Err(r);
    };
    Ok((matched, route))
}

/// Reads the body: a multipart body streamed to staging files (and its text fields), anything
/// else into memory up to `max_body_bytes`; a urlencoded form is decoded into fields too.
async fn read_body(
    state: &ListenerState,
    parts: &Parts,
    body: Body,
    max_body_bytes: u64,
) -> Result<(Vec<u8>, Staged), Response> {
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let mut staged = Staged::default();
    let mut raw = Vec::new();
    let result = if mime == "multipart/form-data" {
        match multer::parse_boundary(content_type) {
            Ok(boundary) => stage_multipart(
                body,
                boundary,
                &state.host.staging_dir,
                state.host.upload_limit,
                max_body_bytes,
            )
            .await
            .map(|s| staged = s),
            Err(e) => Err(StagingError::Malformed(e.to_string())),
        }
    } else {
        read_limited(body, max_body_bytes).await.map(|b| raw = b)
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
        return Err(response);
    }
    if mime == "application/x-www-form-urlencoded" {
        staged.form = url::form_urlencoded::parse(&raw)
            .map(|(name, value)| FormField {
                name: name.into_owned(),
                value: value.into_owned(),
            })
            .collect();
    }
    Ok((raw, staged))
}

/// The request as the plugin receives it, and the call's context holding its staged files.
fn wit_request(
    parts: &Parts,
    path: String,
    route: String,
    matched: Matched<'_>,
    raw: Vec<u8>,
    staged: Staged,
    remote: SocketAddr,
) -> (WitRequest, CallContext) {
    // Joined by hand: `format!` was a measurable part of a call on a kept instance.
    let scheme = parts.uri.scheme_str().unwrap_or("http");
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let mut base_url = String::with_capacity(scheme.len() + 3 + host.len());
    base_url.push_str(scheme);
    base_url.push_str("://");
    base_url.push_str(host);
    let headers: Vec<Header> = plugin_headers(&parts.headers).collect();
    let call = CallContext {
        printer: matched.target.printer.clone(),
        uploads: staged.files.into_iter().collect(),
    };
    let request = WitRequest {
        method: parts.method.as_str().to_string(),
        path,
        route,
        params: matched.params,
        query: parts.uri.query().unwrap_or("").to_string(),
        headers,
        body: raw,
        form: staged.form,
        uploads: staged.uploads,
        printer: matched.target.printer.clone(),
        mount: matched.target.mount.clone(),
        base_url,
        remote_addr: address_text(remote),
    };
    (request, call)
}

/// A request's headers as a plugin receives them: without the dashboard's session cookie (a
/// token that acts as the user on the host API) and without the headers only the host may set
/// (`x-printfarm-user`, `x-printfarm-role`).
pub fn plugin_headers(headers: &axum::http::HeaderMap) -> impl Iterator<Item = Header> + '_ {
    headers.iter().filter_map(|(k, v)| {
        if session::is_dashboard_identity_header(k.as_str()) {
            return None;
        }
        let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
        let value = if *k == header::COOKIE {
            session::without_session_cookie(&value)?
        } else {
            value
        };
        Some(Header {
            name: k.as_str().to_string(),
            value,
        })
    })
}

/// `ip:port`, as `SocketAddr`'s `Display` writes it. That goes through the formatting machinery,
/// which cost a tenth of a call on a kept instance; IPv4, what clients use, is written directly.
fn address_text(address: SocketAddr) -> String {
    let SocketAddr::V4(v4) = address else {
        return address.to_string();
    };
    let mut text = String::with_capacity(21);
    let mut digits = itoa::Buffer::new();
    for (i, octet) in v4.ip().octets().into_iter().enumerate() {
        if i > 0 {
            text.push('.');
        }
        text.push_str(digits.format(octet));
    }
    text.push(':');
    text.push_str(digits.format(v4.port()));
    text
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
            (Ok(name), Ok(_))
                if name == header::SET_COOKIE
                    && super::api::session::sets_session_cookie(&h.value) =>
            {
                tracing::warn!(
                    plugin,
                    "plugin tried to set the dashboard's session cookie; dropped"
                );
            }
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
    let Ok(files) = ctx.grant::<cap::FilesRead>() else {
        return Err(json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("plugin `{plugin}` answered with library file `{path}` without the files.read capability"),
        ));
    };
    match library_file::open(files.library(), path).await {
        Ok((entry, body)) => Ok((body, entry.size)),
        Err(e) => Err(json_error(core_status(&e), e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        for address in [
            "127.0.0.1:8080",
            "0.0.0.0:0",
            "255.255.255.255:65535",
            "10.20.3.4:51234",
            "[::1]:5000",
            "[fe80::1%2]:80",
        ] {
            let parsed: SocketAddr = address
                .parse()
                .unwrap_or_else(|_| SocketAddr::V6(address.parse().unwrap()));
            assert_eq!(address_text(parsed), parsed.to_string());
        }
    }

    #[test]
    fn collapses_slashes() {
        assert_eq!(normalize_path("//api//printer/bed"), "/api/printer/bed");
        assert_eq!(normalize_path("/api/job"), "/api/job");
    }
}
