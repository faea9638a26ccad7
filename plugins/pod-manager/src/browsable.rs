//! The browsable API ("an interactive API viewer is available through the browser at the same
//! endpoint"): Django REST Framework renders every answer as an HTML page when the client asks
//! for `text/html`, with the JSON pretty-printed and forms to try the endpoint. Here every JSON
//! answer of the API is wrapped the same way (`?format=json` forces JSON, `?format=api` HTML),
//! and `GET /api/` is DRF's API root: links to the lists.
//!
//! The forms post as browsers do (multipart for uploads; the transfer form as DRF's raw-data
//! form, `_content` holding JSON) with the `csrfmiddlewaretoken` field Django accepts in place of
//! the `X-CSRFToken` header.

use printfarm_sdk::{Error, Request, Response, ResponseBody};
use serde_json::{json, Value};

use crate::auth;
use crate::sessions::{cookie, CSRF_COOKIE, SESSION_COOKIE};

/// Whether the client asked for HTML.
pub fn wants_html(req: &Request) -> bool {
    match req.query_param("format").as_deref() {
        Some("json") => return false,
        Some("api") => return true,
        _ => {}
    }
    req.header("accept")
        .is_some_and(|a| a.to_ascii_lowercase().contains("text/html"))
}

/// HTML-escapes text (the SDK's, re-exported for this plugin's modules).
pub use printfarm_sdk::html::escape;

/// The status line DRF shows above the content.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        302 => "Found",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        415 => "Unsupported Media Type",
        _ => "",
    }
}

/// A whole page: navigation, `title`, `content` (already HTML).
fn layout(req: &Request, title: &str, content: &str) -> String {
    let account = if cookie(req, SESSION_COOKIE).is_some() {
        r#"<a href="/accounts/logout/">Log out</a>"#
    } else {
        r#"<a href="/accounts/login/?next=/api/">Log in</a>"#
    };
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} – Pod Manager API</title>
<style>body{{font-family:sans-serif;margin:0}}nav{{background:#2c3e50;padding:.6em 1em}}nav a{{color:#fff;margin-right:1em;text-decoration:none}}
main{{padding:1em 2em}}pre{{background:#f5f5f5;padding:1em;overflow:auto;border:1px solid #ddd}}.meta{{color:#555}}
form{{margin:1em 0;padding:1em;border:1px solid #ddd}}textarea{{width:100%;font-family:monospace}}.error{{color:#b00}}</style>
</head><body><nav><a href="/api/">Pod Manager API</a><a href="/api/printers/">Printers</a><a href="/api/files/">Files</a><a href="/api/printlogs/">Print logs</a>{account}</nav>
<main><h1>{title}</h1>{content}</main></body></html>
"#,
        title = escape(title),
    )
}

/// The hidden CSRF field of our forms (empty without a session: token clients need none).
fn csrf_field(req: &Request) -> String {
    let token = cookie(req, CSRF_COOKIE).unwrap_or_default();
    format!(
        r#"<input type="hidden" name="csrfmiddlewaretoken" value="{}">"#,
        escape(&token)
    )
}

/// The forms for trying the endpoint of this request, where it accepts writes.
fn forms(req: &Request) -> String {
    let csrf = csrf_field(req);
    match req.route() {
        "/api/files/" => format!(
            r#"<form method="post" action="/api/files/" enctype="multipart/form-data"><h2>Upload a file</h2>{csrf}
<p><label>File <input type="file" name="file" required></label></p><p><button type="submit">POST</button></p></form>"#
        ),
        "/api/printers/" | "/api/printers/transfer" => {
            let example = json!({"file": 1, "printers": ["<printer id>"], "print": true});
            format!(
                r#"<form method="post" action="/api/printers/transfer"><h2>Transfer a file (POST /api/printers/transfer)</h2>{csrf}
<input type="hidden" name="_content_type" value="application/json">
<p><textarea name="_content" rows="6">{}</textarea></p><p><button type="submit">POST</button></p></form>"#,
                escape(&serde_json::to_string_pretty(&example).unwrap_or_default())
            )
        }
        _ => String::new(),
    }
}

/// Wraps a JSON answer into the browsable page; other answers pass unchanged.
pub fn wrap(req: &Request, res: Response) -> Response {
    let is_json = res
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json"));
    let ResponseBody::Bytes(bytes) = res.body() else {
        return res;
    };
    if !is_json {
        return res;
    }
    let pretty = serde_json::from_slice::<Value>(bytes)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| String::from_utf8_lossy(bytes).into_owned());
    let status = res.status();
    let mut meta = format!("HTTP {status} {}\n", reason(status));
    for (name, value) in res.headers() {
        if name != "content-type" {
            meta.push_str(&format!("{name}: {value}\n"));
        }
    }
    meta.push_str("Content-Type: application/json\nVary: Accept\n");
    let title = match req.route() {
        "/api" | "/api/" => "Api Root",
        "/api/printers/" => "Printer List",
        "/api/printers/{id}/" => "Printer Instance",
        "/api/files/" => "File List",
        "/api/files/{id}/" => "File Instance",
        "/api/printlogs/" => "Print Log List",
        "/api/printers/transfer" => "Transfer",
        _ => "Pod Manager",
    };
    let content = format!(
        r#"<p class="meta"><b>{} {}</b></p><pre class="meta">{}</pre><pre>{}</pre>{}"#,
        escape(req.method()),
        escape(req.path()),
        escape(&meta),
        escape(&pretty),
        forms(req)
    );
    let mut out = Response::html(status, layout(req, title, &content));
    for (name, value) in res.headers() {
        if name != "content-type" && name != "content-length" {
            out = out.append_header(name, value);
        }
    }
    out
}

/// Django's login form, with an error when the last attempt failed.
pub fn login_page(req: &Request, error: Option<&str>, status: u16) -> Response {
    let next = req
        .query_param("next")
        .or_else(|| req.form_field("next").map(str::to_string))
        .unwrap_or_else(|| "/api/".into());
    let error = error
        .map(|e| format!(r#"<p class="error">{}</p>"#, escape(e)))
        .unwrap_or_default();
    let content = format!(
        r#"{error}<form method="post" action="/accounts/login/">
<input type="hidden" name="next" value="{}">
<p><label>Username <input name="username" autocomplete="username" required></label></p>
<p><label>Password <input name="password" type="password" autocomplete="current-password" required></label></p>
<p><button type="submit">Log in</button></p></form>"#,
        escape(&next)
    );
    Response::html(status, layout(req, "Log in", &content))
}

/// `GET /api/`: DRF's API root, links to the lists.
pub fn api_root(req: &Request) -> Result<Response, Error> {
    auth::require(req)?;
    let base = req.base_url();
    Ok(Response::ok_json(&json!({
        "printers": format!("{base}/api/printers/"),
        "files": format!("{base}/api/files/"),
        "printlogs": format!("{base}/api/printlogs/"),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_negotiated_and_escaped() {
        let r = Request::builder("GET", "/api/files/")
            .header("accept", "text/html,application/xhtml+xml")
            .build();
        assert!(wants_html(&r));
        let r2 = Request::builder("GET", "/api/files/")
            .header("accept", "text/html")
            .query("format=json")
            .build();
        assert!(!wants_html(&r2));
        let res = wrap(
            &r,
            Response::ok_json(&json!([{"filename": "<script>.gcode"}])),
        );
        assert_eq!(res.header("content-type"), Some("text/html; charset=utf-8"));
        let body = res.body_text().unwrap();
        assert!(body.contains("&lt;script&gt;.gcode"), "{body}");
        assert!(!body.contains("<script>"));
        assert!(body.contains(r#"enctype="multipart/form-data""#));
    }
}
