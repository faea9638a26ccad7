//! The Obico server's REST API as an agent calls it: linking (anonymous, rate limited) and the
//! token-authenticated calls (printer, snapshots, events, G-code files).

use printfarm_sdk::http::{self, OutboundRequest, OutboundResponse};
use printfarm_sdk::HostError;
use serde_json::Value;

use crate::config::Server;
use crate::form_data::FormData;

/// How long a REST call may take: a tick runs several and the server may be far away.
const TIMEOUT_MS: u32 = 10_000;

/// Why a call to the server did not give what was asked.
#[derive(Debug, Clone, PartialEq)]
pub enum RestError {
    /// The call could not be made (not granted, connection refused, timeout): the host's words.
    Transport(String),
    /// The answer is not the Obico API's (HTML, not JSON): the URL is probably not an Obico server.
    NotObico(String),
    /// 401/403: the token is not (or no longer) valid; the printer was deleted on the server.
    TokenRefused(String),
    /// 429: the anonymous rate limit; wait this many seconds (when the server said).
    Throttled(Option<u64>),
    /// Any other refusal, with the status and what the server said.
    Refused(u16, String),
}

impl std::fmt::Display for RestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RestError::Transport(m) => write!(f, "cannot reach the Obico server: {m}"),
            RestError::NotObico(m) => write!(f, "{m}"),
            RestError::TokenRefused(m) => write!(f, "the server refused the printer's token: {m}"),
            RestError::Throttled(Some(s)) => {
                write!(f, "the server's rate limit was hit; retrying in {s} s")
            }
            RestError::Throttled(None) => write!(f, "the server's rate limit was hit"),
            RestError::Refused(status, m) => write!(f, "the server answered {status}: {m}"),
        }
    }
}

impl From<HostError> for RestError {
    fn from(e: HostError) -> Self {
        RestError::Transport(e.into_message())
    }
}

/// The first 200 characters of a body, for messages.
fn excerpt(res: &OutboundResponse) -> String {
    let text = res.text();
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// Classifies an answer; `Ok` is a 2xx with a JSON body.
fn json_answer(server: &Server, res: OutboundResponse) -> Result<Value, RestError> {
    let status = res.status;
    if status == 429 {
        let wait = res
            .header("retry-after")
            .and_then(|v| v.trim().parse().ok())
            .or_else(|| throttle_wait(&res.text()));
        return Err(RestError::Throttled(wait));
    }
    let body: Option<Value> = res.json().ok();
    let is_html = res
        .header("content-type")
        .is_some_and(|c| c.to_ascii_lowercase().contains("html"));
    if (200..300).contains(&status) {
        return match body {
            Some(value) if value.is_object() => Ok(value),
            _ => Err(RestError::NotObico(format!(
                "{} answered {status} with {} instead of the Obico API's JSON: is this an Obico server? (\"{}\")",
                server.base,
                if is_html { "an HTML page" } else { "something else" },
                excerpt(&res)
            ))),
        };
    }
    if status == 401 || status == 403 {
        return Err(RestError::TokenRefused(excerpt(&res)));
    }
    if body.is_none() && status < 500 && (is_html || status == 404 || status == 405) {
        return Err(RestError::NotObico(format!(
            "{} answered {status} {}: is this an Obico server? (\"{}\")",
            server.base,
            if is_html {
                "with an HTML page"
            } else {
                "without JSON"
            },
            excerpt(&res)
        )));
    }
    Err(RestError::Refused(status, excerpt(&res)))
}

/// Django REST framework's "Expected available in N seconds." when no `Retry-After` came.
fn throttle_wait(text: &str) -> Option<u64> {
    let after = text.split("available in ").nth(1)?;
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn send(server: &Server, req: OutboundRequest) -> Result<Value, RestError> {
    let res = http::send(req.with_timeout_ms(TIMEOUT_MS))?;
    json_answer(server, res)
}

fn authed(req: OutboundRequest, token: &str) -> OutboundRequest {
    req.with_header("authorization", &format!("Token {token}"))
}

/// What the server answers a verified code with: the printer's token, id and name.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// The printer's auth token.
    pub token: String,
    /// The printer's id on the server.
    pub id: Option<i64>,
    /// Its name on the server.
    pub name: Option<String>,
}

/// `POST /api/v1/octo/verify/?code=…`: a code from the app (or a passcode poll, or discovery)
/// becomes the printer's token.
pub fn verify(server: &Server, code: &str) -> Result<Verified, RestError> {
    let url = server.url(&format!("/api/v1/octo/verify/?code={code}"));
    let body = match send(server, OutboundRequest::post(&url)) {
        Err(RestError::Refused(404, m)) => {
            return Err(RestError::Refused(
                404,
                format!("the code {code} is unknown, expired or already used ({m})"),
            ))
        }
        other => other?,
    };
    let printer = &body["printer"];
    let token = printer["auth_token"].as_str().unwrap_or_default();
    if token.is_empty() {
        return Err(RestError::NotObico(format!(
            "{} verified the code but sent no printer token: is this an Obico server?",
            server.base
        )));
    }
    Ok(Verified {
        token: token.to_string(),
        id: printer["id"].as_i64(),
        name: printer["name"].as_str().map(str::to_string),
    })
}

/// `POST /api/v1/octo/unlinked/`: the anonymous poll of a printer that is not linked. The
/// answer carries the passcode, a verification code once the user entered it, and discovery
/// messages.
pub fn unlinked(server: &Server, body: &Value) -> Result<Value, RestError> {
    send(
        server,
        OutboundRequest::post(&server.url("/api/v1/octo/unlinked/")).with_json(body),
    )
}

/// `GET /api/v1/octo/printer/`: checks a token and reads the printer's name and pause settings.
pub fn printer(server: &Server, token: &str) -> Result<Value, RestError> {
    send(
        server,
        authed(
            OutboundRequest::get(&server.url("/api/v1/octo/printer/")),
            token,
        ),
    )
}

/// `POST /api/v1/octo/pic/`: a snapshot (JPEG) of the primary camera. `viewing_boost` marks the
/// quick picture for someone who just opened the printer (the server does not run failure
/// detection on it).
pub fn pic(
    server: &Server,
    token: &str,
    jpeg: &[u8],
    viewing_boost: bool,
) -> Result<Value, RestError> {
    let form = FormData::new()
        .text("is_primary_camera", "true")
        .text("is_nozzle_camera", "false")
        .text("camera_name", "camera")
        .text(
            "viewing_boost",
            if viewing_boost { "true" } else { "false" },
        )
        .file("pic", "snapshot.jpg", "image/jpeg", jpeg);
    post_form(server, token, "/api/v1/octo/pic/", form)
}

/// `POST`s a multipart form with the printer's token.
fn post_form(server: &Server, token: &str, path: &str, form: FormData) -> Result<Value, RestError> {
    let (content_type, body) = form.finish();
    send(
        server,
        authed(OutboundRequest::post(&server.url(path)), token)
            .with_header("content-type", &content_type)
            .with_body(body),
    )
}

/// `PATCH /api/v1/octo/printer/`: names the printer on the server (it names every new one
/// "My Awesome Cloud Printer", which tells 50 printers of a farm apart poorly).
pub fn rename(server: &Server, token: &str, name: &str) -> Result<Value, RestError> {
    send(
        server,
        authed(
            OutboundRequest::new("PATCH", &server.url("/api/v1/octo/printer/")),
            token,
        )
        .with_json(&serde_json::json!({ "name": name })),
    )
}

/// A notification for `printer_events`.
#[derive(Debug, Clone, PartialEq)]
pub struct PrinterEvent {
    /// One of the server's event types (`PRINTER_ERROR`, `FILAMENT_CHANGE`…): it shows and
    /// notifies only those.
    pub event_type: &'static str,
    /// `ERROR`, `WARNING`, `SUCCESS` or `INFO`.
    pub event_class: &'static str,
    /// The title.
    pub title: String,
    /// The text.
    pub text: String,
}

/// `POST /api/v1/octo/printer_events/`, with a snapshot when there is one.
pub fn printer_event(
    server: &Server,
    token: &str,
    event: &PrinterEvent,
    snapshot: Option<&[u8]>,
) -> Result<Value, RestError> {
    let mut form = FormData::new()
        .text("event_type", event.event_type)
        .text("event_class", event.event_class)
        .text("event_title", &event.title)
        .text("event_text", &event.text)
        .text("notify", "true");
    if let Some(jpeg) = snapshot {
        form = form.file("snapshot", "snapshot.jpg", "image/jpeg", jpeg);
    }
    post_form(server, token, "/api/v1/octo/printer_events/", form)
}

/// `POST /api/v1/octo/g_code_files/`: tells the server of the file being printed; its id goes
/// into the status (`obico_g_code_file_id`).
pub fn g_code_file(
    server: &Server,
    token: &str,
    path: &str,
    size: u64,
) -> Result<Option<i64>, RestError> {
    let name = crate::status::file_name(path);
    let body = serde_json::json!({
        "filename": name,
        "safe_filename": name,
        "num_bytes": size,
        "agent_signature": format!("printfarm:{path}"),
        "url": path,
    });
    let answer = send(
        server,
        authed(
            OutboundRequest::post(&server.url("/api/v1/octo/g_code_files/")),
            token,
        )
        .with_json(&body),
    )?;
    Ok(answer["id"].as_i64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(status: u16, content_type: &str, body: &str) -> OutboundResponse {
        OutboundResponse {
            status,
            headers: vec![printfarm_sdk::Header {
                name: "content-type".into(),
                value: content_type.into(),
            }],
            body: body.as_bytes().to_vec(),
        }
    }

    fn server() -> Server {
        Server::parse("http://obico.lan:3334").unwrap()
    }

    #[test]
    fn an_html_answer_is_not_an_obico_server() {
        let err = json_answer(
            &server(),
            res(200, "text/html", "<html><body>router login</body></html>"),
        )
        .unwrap_err();
        match err {
            RestError::NotObico(m) => {
                assert!(
                    m.contains("http://obico.lan:3334") && m.contains("HTML"),
                    "{m}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            json_answer(&server(), res(404, "text/html", "<h1>Not Found</h1>")),
            Err(RestError::NotObico(_))
        ));
    }

    #[test]
    fn throttling_tokens_and_refusals_are_told_apart() {
        let mut throttled = res(
            429,
            "application/json",
            r#"{"detail":"Request was throttled. Expected available in 42 seconds."}"#,
        );
        assert_eq!(
            json_answer(&server(), throttled.clone()),
            Err(RestError::Throttled(Some(42)))
        );
        throttled.headers.push(printfarm_sdk::Header {
            name: "retry-after".into(),
            value: "7".into(),
        });
        assert_eq!(
            json_answer(&server(), throttled),
            Err(RestError::Throttled(Some(7)))
        );
        assert!(matches!(
            json_answer(
                &server(),
                res(
                    401,
                    "application/json",
                    r#"{"error":"Invalid or Inactive Token"}"#
                )
            ),
            Err(RestError::TokenRefused(_))
        ));
        assert!(matches!(
            json_answer(
                &server(),
                res(
                    404,
                    "application/json",
                    r#"{"detail":"Requested resource does not exist"}"#
                )
            ),
            Err(RestError::Refused(404, _))
        ));
        assert_eq!(
            json_answer(
                &server(),
                res(200, "application/json", r#"{"result":"ok"}"#)
            )
            .unwrap()["result"],
            "ok"
        );
    }
}
