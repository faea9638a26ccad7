//! `printfarm:plugin/outbound-http` and `outbound-ws`: traffic to granted origins only.
//!
//! An origin is granted when the plugin's [`OutboundPolicy`](crate::plugin::outbound::OutboundPolicy)
//! allows it; `check` answers that question without sending anything. Redirects are not
//! followed, so a granted host cannot bounce a plugin to another one.
//!
//! Websocket handshake headers are the plugin's and may carry credentials: their values are put
//! in no message and no log line here (and [`crate::logging`] keeps tungstenite from logging the
//! request). Messages show a websocket URL without its query and password for the same reason.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite;

use super::super::bindings::printfarm::plugin::outbound_http::{
    self, OutboundRequest, OutboundResponse,
};
use super::super::bindings::printfarm::plugin::outbound_ws;
use super::super::bindings::printfarm::plugin::push::Message;
use super::super::bindings::{Header, HostError};
use super::super::context::cap;
use super::super::hook::Hook;
use super::super::state::CallState;
use super::sockets::{Outgoing, SocketHub, SocketKind};
use crate::http::error::status_text;
use crate::plugin::outbound::{destination, OutboundRefusal};

/// Timeout of an outbound request when the plugin gives none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long opening an outbound websocket may take at most; the plugin's call deadline, when
/// shorter, bounds it too, so that a slow handshake fails as the call's error rather than
/// ending the call.
pub const WS_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the answer to a server's close frame may take to go out before the socket is
/// dropped anyway.
const CLOSE_FLUSH: Duration = Duration::from_secs(1);
/// Most bytes of a refusing server's answer quoted in the error: enough for a reason (`{"detail":
/// "Invalid token."}`), not a page.
const REFUSAL_QUOTE: usize = 200;

impl From<OutboundRefusal> for HostError {
    fn from(refusal: OutboundRefusal) -> HostError {
        match refusal {
            OutboundRefusal::Invalid(message) => HostError::Invalid(message),
            OutboundRefusal::Denied(message) => HostError::Denied(message),
        }
    }
}

fn transport_error(url: &str, e: impl std::fmt::Display) -> HostError {
    HostError::Unavailable(format!("request to {url} failed: {e}"))
}

impl outbound_http::Host for CallState {
    async fn send(&mut self, req: OutboundRequest) -> Result<OutboundResponse, HostError> {
        let plugin = self.plugin.clone();
        let http = plugin.grant::<cap::OutboundHttp>()?.http();
        let url = plugin.outbound.check(&plugin.id, &req.url)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(HostError::Invalid(format!(
                "`send` takes http and https URLs, not {}: open a websocket with outbound-ws.connect",
                url.scheme()
            )));
        }
        let limits = &plugin.limits;
        if req.body.len() as u64 > limits.max_body_bytes {
            return Err(HostError::Limit(format!(
                "outbound body of {} bytes exceeds limits.max-body-bytes ({})",
                req.body.len(),
                limits.max_body_bytes
            )));
        }
        if req.headers.len() > limits.max_headers as usize {
            return Err(HostError::Limit(format!(
                "{} headers exceed limits.max-headers",
                req.headers.len()
            )));
        }
        let method = reqwest::Method::from_bytes(req.method.as_bytes())
            .map_err(|_| HostError::Invalid(format!("`{}` is not an HTTP method", req.method)))?;
        let deadline = Duration::from_millis(limits.deadline_ms);
        let timeout = req
            .timeout_ms
            .map(|ms| Duration::from_millis(ms.into()))
            .unwrap_or(DEFAULT_TIMEOUT)
            .min(deadline);
        let mut builder = http.request(method, url).timeout(timeout).body(req.body);
        for h in &req.headers {
            builder = builder.header(&h.name, &h.value);
        }
        let mut response = builder
            .send()
            .await
            .map_err(|e| transport_error(&req.url, e))?;
        let status = response.status().as_u16();
        let headers: Vec<Header> = response
            .headers()
            .iter()
            .take(limits.max_headers as usize)
            .map(|(k, v)| Header {
                name: k.as_str().to_string(),
                value: String::from_utf8_lossy(v.as_bytes()).into_owned(),
            })
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| transport_error(&req.url, e))?
        {
            if (body.len() + chunk.len()) as u64 > limits.max_response_bytes {
                return Err(HostError::Limit(format!(
                    "response from {} exceeds limits.max-response-bytes ({})",
                    req.url, limits.max_response_bytes
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(OutboundResponse {
            status,
            headers,
            body,
        })
    }

    async fn check(&mut self, url: String) -> Result<(), HostError> {
        let plugin = &self.plugin;
        // The capability the URL's kind needs, as `send` or `connect` would ask for it.
        match destination(&url)?.url.scheme() {
            "ws" | "wss" => {
                plugin.grant::<cap::OutboundWs>()?;
            }
            _ => {
                plugin.grant::<cap::OutboundHttp>()?;
            }
        }
        plugin.outbound.check(&plugin.id, &url)?;
        Ok(())
    }
}

/// A websocket URL as messages show it: without query (tokens travel there) and password.
fn shown(url: &url::Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    if shown.password().is_some() {
        let _ = shown.set_password(Some("***"));
    }
    shown.to_string()
}

/// A failed handshake as the plugin sees it: a refusal with its HTTP status (and the start of
/// the server's answer, which often says why), or the transport's error.
fn handshake_error(url: &str, error: tungstenite::Error) -> HostError {
    match error {
        tungstenite::Error::Http(response) => {
            let quote = response
                .body()
                .as_deref()
                .and_then(|body| std::str::from_utf8(body).ok())
                .map(|text| text.trim())
                .filter(|text| !text.is_empty())
                .map(|text| {
                    let mut end = text.len().min(REFUSAL_QUOTE);
                    while !text.is_char_boundary(end) {
                        end -= 1;
                    }
                    format!(": {}", &text[..end])
                })
                .unwrap_or_default();
            HostError::Unavailable(format!(
                "websocket handshake with {url} refused: {}{quote}",
                status_text(response.status())
            ))
        }
        other => HostError::Unavailable(format!("websocket connection to {url} failed: {other}")),
    }
}

/// An outbound socket's place in the hub, given back if the call ends before the socket is
/// handed to its task: a failed handshake, or a call abandoned at its deadline mid-handshake
/// (the future is dropped then, and with it this).
struct Reserved<'a> {
    hub: &'a SocketHub,
    id: u64,
    kept: bool,
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        if !self.kept {
            self.hub.remove(self.id);
        }
    }
}

impl outbound_ws::Host for CallState {
    async fn connect(&mut self, url: String, headers: Vec<Header>) -> Result<u64, HostError> {
        let plugin = self.plugin.clone();
        let granted = plugin.grant::<cap::OutboundWs>()?;
        let parsed = plugin.outbound.check(&plugin.id, &url)?;
        let shown = shown(&parsed);
        if !matches!(parsed.scheme(), "ws" | "wss") {
            return Err(HostError::Invalid(format!(
                "`connect` takes ws and wss URLs, not {}: send HTTP requests with outbound-http.send",
                parsed.scheme()
            )));
        }
        let mut request = tungstenite::client::IntoClientRequest::into_client_request(url.as_str())
            .map_err(|e| HostError::Invalid(format!("`{shown}` is not a websocket URL: {e}")))?;
        for h in headers.iter().take(plugin.limits.max_headers as usize) {
            let name = http::HeaderName::from_bytes(h.name.as_bytes())
                .map_err(|_| HostError::Invalid(format!("`{}` is not a header name", h.name)))?;
            // The value is not quoted: it may be a credential.
            let value = http::HeaderValue::from_str(&h.value).map_err(|_| {
                HostError::Invalid(format!(
                    "the value of header `{}` holds a character a header cannot carry",
                    h.name
                ))
            })?;
            request.headers_mut().append(name, value);
        }
        let hub = granted.sockets();
        let id = hub.next_id();
        let rx = hub.open(
            id,
            &plugin.id,
            SocketKind::Outbound,
            None,
            plugin.limits.max_sockets,
        )?;
        let mut reserved = Reserved {
            hub,
            id,
            kept: false,
        };
        let timeout = WS_CONNECT_TIMEOUT.min(Duration::from_millis(plugin.limits.deadline_ms));
        let (stream, _) =
            match tokio::time::timeout(timeout, tokio_tungstenite::connect_async(request)).await {
                Ok(Ok(connected)) => connected,
                Ok(Err(e)) => return Err(handshake_error(&shown, e)),
                Err(_) => {
                    return Err(HostError::Unavailable(format!(
                        "websocket handshake with {shown} timed out after {} ms",
                        timeout.as_millis()
                    )))
                }
            };
        reserved.kept = true;
        let sockets = granted.sockets_owned();
        let plugin_id = plugin.id.clone();
        tokio::spawn(async move {
            let hooks = sockets.hub().hooks_of(&plugin_id);
            let (code, reason) = carry(stream, rx, id, hooks.as_ref()).await;
            sockets.hub().remove(id);
            if let Some(h) = &hooks {
                let _ = h.send(Hook::SocketClose(id, code, reason)).await;
            }
        });
        Ok(id)
    }

    async fn send_text(&mut self, socket: u64, text: String) -> Result<(), HostError> {
        self.plugin.grant::<cap::OutboundWs>()?.sockets().send(
            &self.plugin.id,
            SocketKind::Outbound,
            socket,
            Outgoing::Message(Message::Text(text)),
        )
    }

    async fn send_binary(&mut self, socket: u64, data: Vec<u8>) -> Result<(), HostError> {
        self.plugin.grant::<cap::OutboundWs>()?.sockets().send(
            &self.plugin.id,
            SocketKind::Outbound,
            socket,
            Outgoing::Message(Message::Binary(data)),
        )
    }

    async fn close(&mut self, socket: u64, code: u16, reason: String) -> Result<(), HostError> {
        self.plugin.grant::<cap::OutboundWs>()?.sockets().send(
            &self.plugin.id,
            SocketKind::Outbound,
            socket,
            Outgoing::Close(code, reason),
        )
    }
}

/// Carries an open websocket's frames both ways until it closes: the plugin's frames from `rx`
/// to the server, the server's to the plugin's `hooks`. Returns the close code and reason the
/// plugin hears: the server's close frame's as sent, 1005 for a close frame without a code,
/// 1006 when the connection dropped without one, or the plugin's own `close`.
async fn carry<S>(
    stream: tokio_tungstenite::WebSocketStream<S>,
    mut rx: tokio::sync::mpsc::Receiver<Outgoing>,
    id: u64,
    hooks: Option<&tokio::sync::mpsc::Sender<Hook>>,
) -> (u16, String)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut sink, mut source) = stream.split();
    let deliver = |message: Message| async move {
        if let Some(h) = hooks {
            let _ = h.send(Hook::SocketMessage(id, message)).await;
        }
    };
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(Outgoing::Message(Message::Text(t))) => {
                    if sink.send(tungstenite::Message::text(t)).await.is_err() {
                        return (1006, "the connection dropped while sending".into());
                    }
                }
                Some(Outgoing::Message(Message::Binary(b))) => {
                    if sink.send(tungstenite::Message::binary(b)).await.is_err() {
                        return (1006, "the connection dropped while sending".into());
                    }
                }
                Some(Outgoing::Close(code, reason)) => {
                    let frame = tungstenite::protocol::CloseFrame {
                        code: code.into(),
                        reason: reason.clone().into(),
                    };
                    let _ = sink.send(tungstenite::Message::Close(Some(frame))).await;
                    return (code, reason);
                }
                // The hub forgot the socket (it cannot while this runs): nothing more to send.
                None => return (1006, "the host closed the socket".into()),
            },
            frame = source.next() => match frame {
                Some(Ok(tungstenite::Message::Text(t))) => deliver(Message::Text(t.to_string())).await,
                Some(Ok(tungstenite::Message::Binary(b))) => deliver(Message::Binary(b.to_vec())).await,
                Some(Ok(tungstenite::Message::Close(frame))) => {
                    // tungstenite queued the answering close frame; flushing sends it, so the
                    // server sees a clean close rather than a dropped connection.
                    let _ = tokio::time::timeout(CLOSE_FLUSH, sink.close()).await;
                    return match frame {
                        Some(f) => (f.code.into(), f.reason.to_string()),
                        None => (1005, String::new()),
                    };
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return (1006, e.to_string()),
                None => return (1006, "the connection dropped".into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(url: &str, body: usize) -> OutboundRequest {
        OutboundRequest {
            method: "POST".into(),
            url: url.into(),
            headers: Vec::new(),
            body: vec![b'x'; body],
            timeout_ms: Some(1000),
        }
    }

    #[tokio::test]
    async fn http_needs_the_capability_a_granted_host_and_a_body_within_limits() {
        use super::super::testing::{assert_denied, Harness};
        let harness = Harness::new().await;
        let hosts = "outbound-hosts = [\"http://127.0.0.1:9\"]\n[limits]\nmax-body-bytes = 16";
        let mut none = harness.call(&["outbound-http"], &[], hosts);
        assert_denied(
            outbound_http::Host::send(&mut none, request("http://127.0.0.1:9/", 1)).await,
            "outbound-http",
        );
        let mut call = harness.call(&["outbound-http"], &["outbound-http"], hosts);
        assert_denied(
            outbound_http::Host::send(&mut call, request("http://127.0.0.2:9/", 1)).await,
            "127.0.0.2:9",
        );
        match outbound_http::Host::send(&mut call, request("http://127.0.0.1:9/", 17)).await {
            Err(HostError::Limit(message)) => assert!(message.contains("17 bytes"), "{message}"),
            other => panic!("{other:?}"),
        }
        // Nothing listens on the discard port: the host says so rather than failing.
        match outbound_http::Host::send(&mut call, request("http://127.0.0.1:9/", 1)).await {
            Err(HostError::Unavailable(message)) => {
                assert!(message.contains("127.0.0.1:9"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn websockets_need_the_capability_and_a_granted_host() {
        use super::super::testing::{assert_denied, Harness};
        let harness = Harness::new().await;
        let hosts = "outbound-hosts = [\"http://127.0.0.1:9\"]";
        let mut none = harness.call(&["outbound-ws"], &[], hosts);
        assert_denied(
            outbound_ws::Host::connect(&mut none, "ws://127.0.0.1:9/".into(), Vec::new()).await,
            "outbound-ws",
        );
        let mut call = harness.call(&["outbound-ws"], &["outbound-ws"], hosts);
        assert_denied(
            outbound_ws::Host::connect(&mut call, "ws://example.invalid/".into(), Vec::new()).await,
            "example.invalid",
        );
        match outbound_ws::Host::send_text(&mut call, 77, "hi".into()).await {
            Err(HostError::NotFound(message)) => assert!(message.contains("77"), "{message}"),
            other => panic!("{other:?}"),
        }
    }

    /// `check` answers what `send` and `connect` would, without sending: the capability of the
    /// URL's kind, the grant of its origin (in the words of every refusal), and whether it is
    /// a URL at all.
    #[tokio::test]
    async fn check_tells_what_send_and_connect_would_without_sending() {
        use super::super::testing::{assert_denied, Harness};
        let harness = Harness::new().await;
        let hosts = "outbound-hosts = [\"http://127.0.0.1:9\"]";
        let mut call = harness.call(&["outbound-http"], &["outbound-http"], hosts);
        outbound_http::Host::check(&mut call, "http://127.0.0.1:9/api?x=1".into())
            .await
            .unwrap();
        assert_denied(
            outbound_http::Host::check(&mut call, "ws://127.0.0.1:9/ws".into()).await,
            "outbound-ws",
        );
        let expected = "outbound origin http://127.0.0.2:9 is not granted to plugin probe: add \
                        \"http://127.0.0.2:9\" to outbound-hosts under [plugins.probe] in \
                        printfarm.toml (it has none there, so the plugin's manifest's list \
                        applies; to keep that list too, write outbound-hosts = \
                        [\"http://127.0.0.1:9\", \"http://127.0.0.2:9\"])";
        match outbound_http::Host::check(&mut call, "http://127.0.0.2:9/".into()).await {
            Err(HostError::Denied(m)) => assert_eq!(m, expected),
            other => panic!("{other:?}"),
        }
        match outbound_http::Host::send(&mut call, request("http://127.0.0.2:9/", 1)).await {
            Err(HostError::Denied(m)) => assert_eq!(m, expected, "send says the same"),
            other => panic!("{other:?}"),
        }
        for bad in ["ftp://127.0.0.1:9/", "not a url", "file:///etc/passwd"] {
            match outbound_http::Host::check(&mut call, bad.into()).await {
                Err(HostError::Invalid(m)) => assert!(m.contains(bad), "{m}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        let mut ws = harness.call(&["outbound-ws"], &["outbound-ws"], hosts);
        outbound_http::Host::check(&mut ws, "ws://127.0.0.1:9/ws".into())
            .await
            .unwrap();
        match outbound_http::Host::check(&mut ws, "wss://127.0.0.1:9/ws".into()).await {
            Err(HostError::Denied(m)) => assert!(
                m.starts_with("outbound origin https://127.0.0.1:9 is not granted"),
                "a wss URL is granted by its https origin: {m}"
            ),
            other => panic!("{other:?}"),
        }
    }

    /// A local server that answers every connection with `answer` (nothing when `None`, keeping
    /// the connection open); its port.
    async fn raw_server(answer: Option<&'static str>) -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    let _ = socket.read(&mut request).await;
                    match answer {
                        Some(answer) => {
                            let _ = socket.write_all(answer.as_bytes()).await;
                        }
                        None => tokio::time::sleep(Duration::from_secs(30)).await,
                    }
                });
            }
        });
        port
    }

    fn ws_call(harness: &super::super::testing::Harness, port: u16, limits: &str) -> CallState {
        let manifest =
            format!("outbound-hosts = [\"http://127.0.0.1:{port}\"]\n[limits]\n{limits}");
        harness.call(&["outbound-ws"], &["outbound-ws"], &manifest)
    }

    /// A server refusing the handshake with a status: the message holds `HTTP <code>` and the
    /// start of its answer, never the query or the header values, and the socket's place under
    /// `limits.max-sockets` is given back.
    #[tokio::test]
    async fn a_refused_handshake_names_its_http_status() {
        let harness = super::super::testing::Harness::new().await;
        let port = raw_server(Some(
            "HTTP/1.1 403 Forbidden\r\ncontent-length: 26\r\n\r\n{\"detail\":\"Invalid token\"}",
        ))
        .await;
        let mut call = ws_call(&harness, port, "max-sockets = 1");
        for _ in 0..2 {
            let headers = vec![Header {
                name: "authorization".into(),
                value: "Bearer s3cret".into(),
            }];
            let url = format!("ws://127.0.0.1:{port}/ws/dev/?token=t0ken");
            match outbound_ws::Host::connect(&mut call, url, headers).await {
                Err(HostError::Unavailable(m)) => {
                    assert_eq!(
                        m,
                        format!(
                            "websocket handshake with ws://127.0.0.1:{port}/ws/dev/ refused: \
                             HTTP 403 Forbidden: {{\"detail\":\"Invalid token\"}}"
                        )
                    );
                    assert!(!m.contains("s3cret") && !m.contains("t0ken"), "{m}");
                }
                other => panic!("{other:?}"),
            }
        }
        let bad_header = vec![Header {
            name: "authorization".into(),
            value: "Bearer s3cret\nx".into(),
        }];
        match outbound_ws::Host::connect(&mut call, format!("ws://127.0.0.1:{port}/"), bad_header)
            .await
        {
            Err(HostError::Invalid(m)) => {
                assert!(m.contains("authorization") && !m.contains("s3cret"), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }

    /// A server that accepts the connection and never answers the handshake: `connect` gives up
    /// within the call's deadline, says so, and frees the socket's place.
    #[tokio::test]
    async fn a_handshake_that_never_ends_gives_up_within_the_deadline() {
        let harness = super::super::testing::Harness::new().await;
        let port = raw_server(None).await;
        let mut call = ws_call(&harness, port, "max-sockets = 1\ndeadline-ms = 300");
        for _ in 0..2 {
            let started = std::time::Instant::now();
            match outbound_ws::Host::connect(
                &mut call,
                format!("ws://127.0.0.1:{port}/"),
                Vec::new(),
            )
            .await
            {
                Err(HostError::Unavailable(m)) => assert_eq!(
                    m,
                    format!(
                        "websocket handshake with ws://127.0.0.1:{port}/ timed out after 300 ms"
                    )
                ),
                other => panic!("{other:?}"),
            }
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "{:?}",
                started.elapsed()
            );
        }
    }

    /// The close code and reason of the server's close frame reach `on-socket-close` as sent.
    #[tokio::test]
    async fn the_servers_close_code_reaches_the_plugin() {
        let harness = super::super::testing::Harness::new().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(socket).await.unwrap();
            ws.send(tungstenite::Message::text("hello")).await.unwrap();
            ws.close(Some(tungstenite::protocol::CloseFrame {
                code: 4321u16.into(),
                reason: "go away".into(),
            }))
            .await
            .unwrap();
            // Reads until the client's answering close frame.
            while let Some(Ok(_)) = ws.next().await {}
        });
        let (tx, mut hooks) = tokio::sync::mpsc::channel(8);
        harness.services.sockets.register_hooks("probe", tx);
        let mut call = ws_call(&harness, port, "");
        let id =
            outbound_ws::Host::connect(&mut call, format!("ws://127.0.0.1:{port}/"), Vec::new())
                .await
                .unwrap();
        let mut seen = Vec::new();
        while let Ok(Some(hook)) = tokio::time::timeout(Duration::from_secs(5), hooks.recv()).await
        {
            match hook {
                Hook::SocketMessage(socket, Message::Text(text)) => {
                    seen.push(format!("{socket}:{text}"))
                }
                Hook::SocketClose(socket, code, reason) => {
                    seen.push(format!("{socket}:closed:{code}:{reason}"));
                    break;
                }
                _ => {}
            }
        }
        assert_eq!(
            seen,
            [format!("{id}:hello"), format!("{id}:closed:4321:go away")]
        );
    }
}
