//! `printfarm:plugin/outbound-http` and `outbound-ws`: traffic to allow-listed origins only.
//!
//! An origin is allowed when the plugin's [`OutboundPolicy`](crate::plugin::outbound::OutboundPolicy)
//! allows it. Redirects are not followed, so an allowed host cannot bounce a plugin to another one.

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
use super::sockets::{Outgoing, SocketKind};
use crate::plugin::outbound::OutboundRefusal;

/// Timeout of an outbound request when the plugin gives none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long opening an outbound websocket may take.
pub const WS_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

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
}

impl outbound_ws::Host for CallState {
    async fn connect(&mut self, url: String, headers: Vec<Header>) -> Result<u64, HostError> {
        let plugin = self.plugin.clone();
        let granted = plugin.grant::<cap::OutboundWs>()?;
        plugin.outbound.check(&plugin.id, &url)?;
        let mut request = tungstenite::client::IntoClientRequest::into_client_request(url.as_str())
            .map_err(|e| HostError::Invalid(format!("`{url}` is not a websocket URL: {e}")))?;
        for h in headers.iter().take(plugin.limits.max_headers as usize) {
            let name = http::HeaderName::from_bytes(h.name.as_bytes())
                .map_err(|_| HostError::Invalid(format!("`{}` is not a header name", h.name)))?;
            let value = http::HeaderValue::from_str(&h.value).map_err(|_| {
                HostError::Invalid(format!("the value of header `{}` is not valid", h.name))
            })?;
            request.headers_mut().append(name, value);
        }
        let hub = granted.sockets();
        let id = hub.next_id();
        let mut rx = hub.open(
            id,
            &plugin.id,
            SocketKind::Outbound,
            None,
            plugin.limits.max_sockets,
        )?;
        let connected = tokio::time::timeout(
            WS_CONNECT_TIMEOUT,
            tokio_tungstenite::connect_async(request),
        )
        .await;
        let (stream, _) = match connected {
            Ok(Ok(ok)) => ok,
            Ok(Err(e)) => {
                hub.remove(id);
                return Err(transport_error(&url, e));
            }
            Err(_) => {
                hub.remove(id);
                return Err(transport_error(&url, "timed out"));
            }
        };
        let sockets = granted.sockets_owned();
        let plugin_id = plugin.id.clone();
        tokio::spawn(async move {
            let (mut sink, mut source) = stream.split();
            let hooks = sockets.hub().hooks_of(&plugin_id);
            let (mut code, mut reason) = (1006u16, String::from("connection dropped"));
            loop {
                tokio::select! {
                    out = rx.recv() => match out {
                        Some(Outgoing::Message(Message::Text(t))) => { if sink.send(tungstenite::Message::text(t)).await.is_err() { break; } }
                        Some(Outgoing::Message(Message::Binary(b))) => { if sink.send(tungstenite::Message::binary(b)).await.is_err() { break; } }
                        Some(Outgoing::Close(c, r)) => {
                            let frame = tungstenite::protocol::CloseFrame { code: c.into(), reason: r.clone().into() };
                            let _ = sink.send(tungstenite::Message::Close(Some(frame))).await;
                            (code, reason) = (c, r);
                            break;
                        }
                        None => break,
                    },
                    frame = source.next() => match frame {
                        Some(Ok(tungstenite::Message::Text(t))) => {
                            if let Some(h) = &hooks { let _ = h.send(Hook::SocketMessage(id, Message::Text(t.to_string()))).await; }
                        }
                        Some(Ok(tungstenite::Message::Binary(b))) => {
                            if let Some(h) = &hooks { let _ = h.send(Hook::SocketMessage(id, Message::Binary(b.to_vec()))).await; }
                        }
                        Some(Ok(tungstenite::Message::Close(frame))) => {
                            if let Some(f) = frame { (code, reason) = (f.code.into(), f.reason.to_string()); } else { (code, reason) = (1005, String::new()); }
                            break;
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => { reason = e.to_string(); break; }
                        None => break,
                    }
                }
            }
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
}
