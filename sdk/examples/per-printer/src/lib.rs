//! Example: **per-printer mount**. One set of routes for every printer of the farm.
//!
//! With `per-printer = true` and a `{printer}` segment in the mount, the host serves the routes
//! once per printer (`/example-per-printer/v1/status`, `/example-per-printer/v2/status`…) and
//! tells the plugin which printer a request is for ([`Request::printer`]). With `first-port`
//! under `[plugins.<id>]` the operator can also give each printer a port of its own, for
//! clients that only take a host and a port; the plugin does not change.

use printfarm_sdk::{printers, Error, Plugin, Request, Response, Router};

/// The plugin.
pub struct PerPrinter;

impl Plugin for PerPrinter {
    fn router() -> Router {
        Router::new().get("/status", status)
    }
}

/// `GET /status`: `{"printer": "v1", "state": "operational"}` for the printer of the path.
fn status(req: &Request) -> Result<Response, Error> {
    let printer = req
        .printer()
        .ok_or_else(|| Error::internal("mounted per printer, but no printer in the request"))?;
    let info = printers::get(printer)?;
    Ok(Response::ok_json(&serde_json::json!({
        "printer": printer,
        "state": info.state.as_str(),
    })))
}

printfarm_sdk::export_plugin!(PerPrinter);

#[cfg(test)]
mod tests {
    use super::*;

    /// Outside a per-printer mount there is no printer: a clear 500, not a panic.
    #[test]
    fn a_request_without_a_printer_is_an_error() {
        let error = status(&Request::builder("GET", "/status").build()).unwrap_err();
        assert_eq!(error.status, 500);
    }
}
