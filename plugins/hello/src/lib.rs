//! `hello`: the template printfarm plugin. Copy this crate to start a plugin of your own.
//!
//! * one route: `GET /greet/{name}` answers `{"greeting": "<greeting>, <name>!", "visits": N}`;
//!   (and `GET /health`, a constant `{"ok":true}` that makes no host call);
//! * one config field: `greeting` (see `config.schema.json`), default `"Hello"`;
//! * one capability: `kv`, where the visits per name are counted (each call runs in a fresh
//!   instance, so counters cannot live in memory).

use printfarm_sdk::{kv, Error, Plugin, Request, Response, Router};
use serde::{Deserialize, Serialize};

/// The plugin. All its state lives in `kv`, so the type itself is empty.
pub struct Hello;

/// The operator's configuration (`[plugins.hello.config]` in `printfarm.toml`), validated by
/// the host against `config.schema.json` before the plugin sees it.
#[derive(Debug, Deserialize)]
pub struct Config {
    /// The word in front of the name.
    #[serde(default = "default_greeting")]
    pub greeting: String,
}

fn default_greeting() -> String {
    "Hello".to_string()
}

/// The body of `GET /greet/{name}`.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Greeting {
    /// `"<greeting>, <name>!"`.
    pub greeting: String,
    /// How many times this name was greeted, this call included.
    pub visits: i64,
}

/// Formats the greeting text.
pub fn greeting_text(greeting: &str, name: &str) -> String {
    format!("{greeting}, {name}!")
}

/// The kv key that counts the visits of one name.
fn visits_key(name: &str) -> String {
    format!("visits/{name}")
}

impl Plugin for Hello {
    fn router() -> Router {
        // Exactly the routes of plugin.toml.
        Router::new()
            .get("/greet/{name}", greet)
            .get("/health", health)
    }

    fn init(config: &serde_json::Value) -> Result<(), String> {
        // Fail early, with a visible reason, if the config does not fit.
        serde_json::from_value::<Config>(config.clone())
            .map(|_| ())
            .map_err(|e| format!("invalid config: {e}"))
    }
}

/// `GET /greet/{name}`.
fn greet(req: &Request) -> Result<Response, Error> {
    let name: String = req.param("name")?;
    let config: Config = printfarm_sdk::config()?;
    // A host error (kv not granted, value too large…) becomes an HTTP error through `?`.
    let visits = kv::increment(&visits_key(&name), 1)?;
    Ok(Response::ok_json(&Greeting {
        greeting: greeting_text(&config.greeting, &name),
        visits,
    }))
}

/// `GET /health`: constant, no host calls.
fn health(_req: &Request) -> Result<Response, Error> {
    Ok(Response::json_text(200, r#"{"ok":true}"#))
}

printfarm_sdk::export_plugin!(Hello);

#[cfg(test)]
mod tests {
    use super::*;
    use printfarm_sdk::testing;

    #[test]
    fn greeting_is_formatted() {
        assert_eq!(greeting_text("Hello", "Ada"), "Hello, Ada!");
        assert_eq!(greeting_text("Ahoy", "Grace"), "Ahoy, Grace!");
    }

    #[test]
    fn health_is_constant_json() {
        let res = Hello::router().handle(&Request::builder("GET", "/health").build());
        assert_eq!(res.status(), 200);
        assert_eq!(res.header("content-type"), Some("application/json"));
        assert_eq!(res.body_text(), Some(r#"{"ok":true}"#));
    }

    #[test]
    fn greet_counts_visits_per_name() {
        testing::reset();
        testing::set_config(serde_json::json!({ "greeting": "Ahoy" }));
        let call = |name: &str| {
            let req = Request::builder("GET", "/greet/{name}")
                .path(&format!("/hello/greet/{name}"))
                .param("name", name)
                .build();
            let res = Hello::router().handle(&req);
            assert_eq!(res.status(), 200);
            res.body_json::<Greeting>().unwrap()
        };
        assert_eq!(
            call("Ada"),
            Greeting {
                greeting: "Ahoy, Ada!".into(),
                visits: 1
            }
        );
        assert_eq!(call("Ada").visits, 2);
        assert_eq!(call("Grace").visits, 1);
    }

    #[test]
    fn greeting_defaults_to_hello() {
        testing::reset();
        let req = Request::builder("GET", "/greet/{name}")
            .param("name", "Ada")
            .build();
        let g: Greeting = Hello::router().handle(&req).body_json().unwrap();
        assert_eq!(g.greeting, "Hello, Ada!");
    }

    #[test]
    fn kv_denied_is_a_500_with_the_host_message() {
        testing::reset();
        testing::deny("kv");
        let req = Request::builder("GET", "/greet/{name}")
            .param("name", "Ada")
            .build();
        let res = Hello::router().handle(&req);
        assert_eq!(res.status(), 500);
        let body: serde_json::Value = res.body_json().unwrap();
        assert!(body["error"].as_str().unwrap().contains("kv"));
    }

    #[test]
    fn init_checks_config() {
        assert!(Hello::init(&serde_json::json!({})).is_ok());
        assert!(Hello::init(&serde_json::json!({ "greeting": "Hi" })).is_ok());
        assert!(Hello::init(&serde_json::json!({ "greeting": 5 })).is_err());
    }

    #[test]
    fn router_matches_the_manifest() {
        let manifest = include_str!("../plugin.toml");
        for route in Hello::router().route_table() {
            assert!(
                manifest.contains(&format!("\"{route}\"")),
                "route {route} missing from plugin.toml"
            );
        }
    }
}
