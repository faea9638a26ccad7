//! The plugin's own page (`GET /` under its mount, linked from the dashboard's administration
//! page): every participating printer's link state, and for operators the buttons to start the
//! passcode flow, link with the app's code, and unlink.
//!
//! Rendered here as plain HTML from what `GET /api/printers` returns. Its buttons call the same
//! routes from the browser with the dashboard's session and its CSRF token (read from the host's
//! `/farm/api/session`), so the page needs no key of its own.

use printfarm_sdk::auth::{self, Identity};
use printfarm_sdk::html::escape;
use printfarm_sdk::{printers, Error, Request, Response};

use crate::api::{self, Entry};
use crate::config::Config;
use crate::store;

/// `GET /`: the link states as a web page. A browser without a dashboard session is sent to
/// log in first.
pub fn show(req: &Request) -> Result<Response, Error> {
    let Some(who) = auth::identify(req)? else {
        return Ok(Response::html(
            401,
            layout(
                "Obico link",
                "<p>Log in to the farm's <a href=\"/\">dashboard</a> first, then open this page again.</p>",
            ),
        ));
    };
    let config = Config::load();
    let conns = store::conns();
    let entries: Vec<Entry> = printers::list()?
        .into_iter()
        .filter(|p| config.includes(&p.id))
        .map(|p| api::entry(&p.id, &conns))
        .collect();
    let server = api::current_server(&config)
        .map(|s| s.base)
        .unwrap_or_else(|e| format!("not usable: {e}"));
    let mut body = format!(
        "<p>Obico server: <code>{}</code>. Signed in as {} ({}).</p>",
        escape(&server),
        escape(&who.user),
        who.role.as_str()
    );
    body.push_str(&table(&entries, &who, req.mount()));
    if who.role.can_operate() {
        body.push_str(SCRIPT);
    }
    Ok(Response::html(200, layout("Obico link", &body)))
}

fn table(entries: &[Entry], who: &Identity, mount: &str) -> String {
    if entries.is_empty() {
        return "<p>No printer takes part (see <code>printers</code> under \
                <code>[plugins.obico.config]</code>).</p>"
            .into();
    }
    let mut out = String::from(
        "<table><thead><tr><th>Printer</th><th>State</th><th>On Obico</th><th>Details</th>",
    );
    if who.role.can_operate() {
        out.push_str("<th>Actions</th>");
    }
    out.push_str("</tr></thead><tbody>");
    for e in entries {
        let details = match (&e.passcode, &e.error) {
            (Some(code), _) => format!(
                "passcode <strong class=\"code\">{}</strong>: type it in the Obico app{}",
                escape(code),
                e.passcode_expires_at
                    .as_deref()
                    .map(|at| format!(" before {}", escape(at)))
                    .unwrap_or_default()
            ),
            (None, Some(error)) => format!("<span class=\"error\">{}</span>", escape(error)),
            (None, None) => String::new(),
        };
        out.push_str(&format!(
            "<tr data-printer=\"{id}\"><td>{id}</td><td class=\"state\">{}</td><td>{}</td><td>{details}</td>",
            escape(&e.state),
            escape(e.obico_printer_name.as_deref().unwrap_or("")),
            id = escape(&e.printer),
        ));
        if who.role.can_operate() {
            out.push_str(&actions(e, mount));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// The buttons for a printer's state; the script turns each `data-call` into a request.
fn actions(e: &Entry, mount: &str) -> String {
    // Printer ids are letters, digits, `-` and `_` (the host's config checks): URL-safe as they are.
    let base = format!("{}/api/printers/{}", escape(mount), escape(&e.printer));
    let buttons = if e.state == "unlinked" || e.state == "awaiting-passcode" {
        format!(
            "<button data-call=\"POST {base}/passcode\">Get a passcode</button> \
             <form data-call=\"POST {base}/link\"><input name=\"code\" inputmode=\"numeric\" \
             pattern=\"[0-9]{{6}}\" placeholder=\"6-digit code\" aria-label=\"code from the Obico app\" required> \
             <button>Link</button></form>"
        )
    } else {
        format!("<button data-call=\"DELETE {base}/link\">Unlink</button>")
    };
    format!("<td>{buttons}</td>")
}

fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"color-scheme\" content=\"light dark\"><title>{title}</title><style>{STYLE}</style>\
         </head><body><p><a href=\"/\">← Dashboard</a></p><h1>{title}</h1>{body}\
         <p id=\"status\" role=\"status\"></p></body></html>"
    )
}

const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;margin:1rem auto;max-width:60rem;padding:0 1rem}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.4rem;border-bottom:1px solid #8884;vertical-align:top}\
form{display:inline}input{width:7rem}.code{font-size:1.2em;letter-spacing:.1em}.error{color:#dc2626}\
@media(max-width:600px){td,th{display:block}}";

/// Posts with the dashboard session's CSRF token, then shows the new state.
const SCRIPT: &str = r#"<script>
(async () => {
  const status = document.getElementById("status");
  let csrf = "";
  try { csrf = (await (await fetch("/farm/api/session", {credentials: "same-origin"})).json()).csrf || ""; } catch (_) {}
  async function call(spec, body) {
    const [method, url] = spec.split(" ");
    const res = await fetch(url, {method, credentials: "same-origin",
      headers: {"X-CSRF-Token": csrf, "Content-Type": "application/json"},
      body: body ? JSON.stringify(body) : undefined});
    if (res.ok) { location.reload(); return; }
    const text = await res.text();
    try { status.textContent = JSON.parse(text).error || text; } catch (_) { status.textContent = text; }
  }
  for (const b of document.querySelectorAll("button[data-call]")) b.addEventListener("click", () => call(b.dataset.call));
  for (const f of document.querySelectorAll("form[data-call]")) f.addEventListener("submit", (e) => {
    e.preventDefault(); call(f.dataset.call, {code: f.code.value.trim()});
  });
})();
</script>"#;
