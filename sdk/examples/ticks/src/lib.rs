//! Example: **ticks**. A plugin that works on a timer.
//!
//! `timer-interval-ms = 100` in `plugin.toml` makes the host call [`Plugin::on_tick`] every
//! 100 ms (never two ticks of one plugin at once; a tick that overruns delays the next). Like
//! every call, a tick runs in a fresh instance, so what must last goes to `kv`: here a counter,
//! which `GET /count` serves as `{"ticks": N}`.

use printfarm_sdk::{kv, log, Error, Plugin, Request, Response, Router};

/// The kv key of the counter.
const TICKS: &str = "ticks";

/// The plugin; its state is in kv.
pub struct Ticks;

impl Plugin for Ticks {
    fn router() -> Router {
        Router::new().get("/count", count)
    }

    fn on_tick() {
        // A tick has no caller to answer: a failure can only be logged.
        if let Err(error) = kv::increment(TICKS, 1) {
            log::warn(&format!("could not count a tick: {error}"));
        }
    }
}

/// `GET /count`.
fn count(_: &Request) -> Result<Response, Error> {
    let ticks = kv::get_string(TICKS)?
        .and_then(|text| text.parse::<i64>().ok())
        .unwrap_or(0);
    Ok(Response::ok_json(&serde_json::json!({ "ticks": ticks })))
}

printfarm_sdk::export_plugin!(Ticks);

#[cfg(test)]
mod tests {
    use super::*;

    /// Natively, kv is simulated in memory: three ticks make a count of three.
    #[test]
    fn ticks_are_counted() {
        printfarm_sdk::testing::reset();
        for _ in 0..3 {
            Ticks::on_tick();
        }
        let response = count(&Request::builder("GET", "/count").build()).unwrap();
        let body: serde_json::Value = response.body_json().unwrap();
        assert_eq!(body["ticks"], 3);
    }
}
