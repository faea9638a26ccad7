//! `plugin.toml`: what a plugin is, what it serves and what it needs. Parsed strictly: unknown keys
//! are errors, so a typo never silently drops a setting.

use serde::Deserialize;

use super::capability::Capability;
use super::route::{validate_pattern, RouteSpec};

/// The event kinds a manifest may subscribe to, as named in the contract's `events.wit` (`wit/v0.1.2/`).
pub const EVENT_KINDS: [&str; 7] = [
    "printer-state",
    "temperatures",
    "progress",
    "print",
    "files",
    "jobs",
    "printer-log",
];

/// The manifest of a plugin package, as written in `plugin.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Manifest {
    /// Unique id: lowercase letters, digits and `-`, starting with a letter.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// The plugin's own version (semver).
    pub version: semver::Version,
    /// The contract versions it works with (a semver requirement such as `^0.1`).
    pub api: semver::VersionReq,
    /// One line saying what it does.
    #[serde(default)]
    pub description: Option<String>,
    /// The component file, relative to the package directory. Default: `<id with - as _>.wasm`.
    #[serde(default)]
    pub component: Option<String>,
    /// The default mount prefix (`/octoprint/{printer}` for per-printer plugins). Default: `/<id>`.
    #[serde(default)]
    pub mount: Option<String>,
    /// Mount once per printer; the prefix must then contain `{printer}`.
    #[serde(default)]
    pub per_printer: bool,
    /// HTTP routes, `"METHOD /path"`.
    #[serde(default)]
    pub routes: Vec<String>,
    /// Websocket routes (paths).
    #[serde(default)]
    pub push_routes: Vec<String>,
    /// HTTP routes served at the host's root path whatever the plugin's mount, `"METHOD /path"`:
    /// for well-known paths other programs look for on the host (the Obico app asks an agent for
    /// `/plugin/obico/grab-discovery-secret`). Also served on the plugin's own listener when it
    /// has one. Not for per-printer plugins, whose mounts differ by printer where a root route
    /// cannot.
    #[serde(default)]
    pub root_routes: Vec<String>,
    /// Capabilities it needs.
    #[serde(default)]
    pub capabilities: Vec<Capability>,
    /// `scheme://host[:port]` origins it may reach with outbound HTTP or websockets.
    #[serde(default)]
    pub outbound_hosts: Vec<String>,
    /// Event kinds it subscribes to.
    #[serde(default)]
    pub events: Vec<String>,
    /// Milliseconds between `on-tick` calls; 0 = never.
    #[serde(default)]
    pub timer_interval_ms: u64,
    /// Run the calls that may change state one at a time: requests other than `GET`/`HEAD`,
    /// and every hook. Reads still run concurrently. For a plugin whose state is a few kv values
    /// it reads, changes and writes back: without it, two concurrent changes could each write
    /// over the other's (kv has no transactions).
    #[serde(default)]
    pub serialize_changes: bool,
    /// JSON Schema file for the plugin's config, relative to the package directory.
    #[serde(default)]
    pub config_schema: Option<String>,
    /// Web pages of its own that the dashboard links from its administration page: each a
    /// `GET` route of `routes` without parameters, answered with HTML. The host tells such a
    /// route who is logged in to the dashboard (see `auth` in the SDK).
    #[serde(default)]
    pub pages: Vec<PageSpec>,
    /// Resource limits.
    #[serde(default)]
    pub limits: Limits,
}

/// A page of the plugin's own, linked from the dashboard.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageSpec {
    /// The link's text (1-60 characters).
    pub title: String,
    /// The route's path under the plugin's mount (`/` for the mount itself).
    pub path: String,
}

/// Per-plugin resource limits; each has a default that suits a translator plugin.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Limits {
    /// Linear memory per call, MiB.
    pub memory_mb: u32,
    /// CPU deadline per call, ms.
    pub deadline_ms: u64,
    /// Largest request body (non-multipart) passed to the plugin, and largest outbound request body.
    pub max_body_bytes: u64,
    /// Largest response body the plugin may return, and largest outbound response it may read.
    pub max_response_bytes: u64,
    /// Largest value in the plugin's key-value store.
    pub max_kv_value_bytes: u64,
    /// Open sockets: client push connections and outbound websockets, each.
    pub max_sockets: u32,
    /// Headers passed in either direction.
    pub max_headers: u32,
    /// Consecutive failed calls (traps, timeouts, limits) after which the plugin is disabled.
    pub failures_before_disable: u32,
    /// Calls one instance may serve before it is discarded. 1 (the default) gives every call a
    /// fresh instance; more lets the host keep an instance warm and call it again, which
    /// saves the instantiation (about two thirds of a trivial call's cost). Only a plugin
    /// that keeps nothing in memory between calls (as the SDK asks) should raise it: the host
    /// still runs concurrent calls in different instances and discards an instance after a
    /// failed call.
    pub calls_per_instance: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_mb: 64,
            deadline_ms: 5_000,
            max_body_bytes: 1 << 20,
            max_response_bytes: 16 << 20,
            max_kv_value_bytes: 64 << 10,
            max_sockets: 64,
            max_headers: 100,
            failures_before_disable: 5,
            calls_per_instance: 1,
        }
    }
}

/// The hard ceilings no manifest can raise a limit above.
pub mod ceilings {
    /// Memory per call: the pooling allocator reserves slots of this size.
    pub const MEMORY_MB: u32 = 1024;
    /// A call longer than a minute is a stuck call, not a slow one.
    pub const DEADLINE_MS: u64 = 60_000;
    /// Calls per instance: a bound on what a long-lived instance can accumulate (a leak, a
    /// fragmented heap) before it is replaced by a fresh one.
    pub const CALLS_PER_INSTANCE: u32 = 100_000;
}

/// Whether `id` can be a plugin id: 1-64 lowercase letters, digits or `-`, starting with a
/// letter (it becomes a URL segment, a crate name and a config table's key).
pub fn is_valid_id(id: &str) -> bool {
    id.len() <= 64
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

impl Manifest {
    /// Parses and validates a manifest. `origin` names the file in error messages.
    pub fn parse(text: &str, origin: &str) -> Result<Manifest, String> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| format!("{origin}: {e}"))?;
        manifest.validate().map_err(|e| format!("{origin}: {e}"))?;
        Ok(manifest)
    }

    /// Semantic checks that serde cannot express.
    fn validate(&self) -> Result<(), String> {
        if !is_valid_id(&self.id) {
            return Err(format!(
                "key `id`: `{}` must be 1-64 lowercase letters, digits or `-`, starting with a letter",
                self.id
            ));
        }
        for route in &self.routes {
            RouteSpec::parse(route).map_err(|e| format!("key `routes`: {e}"))?;
        }
        for path in &self.push_routes {
            validate_pattern(path).map_err(|e| format!("key `push-routes`: {e}"))?;
        }
        for route in &self.root_routes {
            RouteSpec::parse(route).map_err(|e| format!("key `root-routes`: {e}"))?;
        }
        if self.per_printer && !self.root_routes.is_empty() {
            return Err(
                "key `root-routes`: a per-printer plugin is mounted once per printer, but a root \
                 route is one path for all of them; serve it from a plugin mounted once, or remove it"
                    .into(),
            );
        }
        if self.routes.is_empty()
            && self.push_routes.is_empty()
            && self.root_routes.is_empty()
            && self.timer_interval_ms == 0
            && self.events.is_empty()
        {
            return Err(
                "the plugin has no routes, push routes, events or timer: it could never run".into(),
            );
        }
        self.validate_pages()?;
        let mount = self.default_mount();
        crate::router::validate_mount(&mount, self.per_printer)
            .map_err(|e| format!("key `mount`: {e}"))?;
        for event in &self.events {
            if !EVENT_KINDS.contains(&event.as_str()) {
                return Err(format!(
                    "key `events`: unknown event `{event}`; known events: {}",
                    EVENT_KINDS.join(", ")
                ));
            }
        }
        for host in &self.outbound_hosts {
            super::outbound::parse_origin(host)
                .map_err(|e| format!("key `outbound-hosts`: {e}"))?;
        }
        let l = &self.limits;
        if l.memory_mb == 0 || l.memory_mb > ceilings::MEMORY_MB {
            return Err(format!(
                "key `limits.memory-mb`: {} must be 1..={}",
                l.memory_mb,
                ceilings::MEMORY_MB
            ));
        }
        if l.deadline_ms == 0 || l.deadline_ms > ceilings::DEADLINE_MS {
            return Err(format!(
                "key `limits.deadline-ms`: {} must be 1..={}",
                l.deadline_ms,
                ceilings::DEADLINE_MS
            ));
        }
        if l.calls_per_instance == 0 || l.calls_per_instance > ceilings::CALLS_PER_INSTANCE {
            return Err(format!(
                "key `limits.calls-per-instance`: {} must be 1..={} (1 = a fresh instance for every call)",
                l.calls_per_instance,
                ceilings::CALLS_PER_INSTANCE
            ));
        }
        if l.failures_before_disable == 0 {
            return Err("key `limits.failures-before-disable`: must be at least 1".into());
        }
        Ok(())
    }

    fn validate_pages(&self) -> Result<(), String> {
        if self.per_printer && !self.pages.is_empty() {
            return Err(
                "key `pages`: a per-printer plugin would have one page per printer; \
                        the dashboard links pages of plugins mounted once"
                    .into(),
            );
        }
        let routes = self.route_specs();
        for page in &self.pages {
            let title = page.title.trim();
            if title.is_empty() || title.chars().count() > 60 {
                return Err(format!(
                    "key `pages`: the title {:?} must be 1-60 characters",
                    page.title
                ));
            }
            let served = routes
                .iter()
                .any(|r| r.methods.contains("GET") && r.path == page.path);
            if !served || page.path.contains('{') {
                return Err(format!(
                    "key `pages`: `{}` is not a `GET` route without parameters of `routes`; \
                     add `\"GET {}\"` to `routes`",
                    page.path, page.path
                ));
            }
        }
        Ok(())
    }

    /// The mount used when the operator does not set one.
    pub fn default_mount(&self) -> String {
        self.mount.clone().unwrap_or_else(|| {
            if self.per_printer {
                format!("/{}/{{printer}}", self.id)
            } else {
                format!("/{}", self.id)
            }
        })
    }

    /// The component file name inside the package.
    pub fn component_file(&self) -> String {
        self.component
            .clone()
            .unwrap_or_else(|| format!("{}.wasm", self.id.replace('-', "_")))
    }

    /// The parsed routes (validated in [`Manifest::parse`]).
    pub fn route_specs(&self) -> Vec<RouteSpec> {
        self.routes
            .iter()
            .filter_map(|r| RouteSpec::parse(r).ok())
            .collect()
    }

    /// The parsed root routes (validated in [`Manifest::parse`]).
    pub fn root_route_specs(&self) -> Vec<RouteSpec> {
        self.root_routes
            .iter()
            .filter_map(|r| RouteSpec::parse(r).ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        id = "hello"
        version = "0.1.0"
        api = "^0.1"
        routes = ["GET /greet/{name}"]
        capabilities = ["kv"]
    "#;

    #[test]
    fn parses_a_minimal_manifest_with_defaults() {
        let m = Manifest::parse(GOOD, "plugin.toml").unwrap();
        assert_eq!(m.default_mount(), "/hello");
        assert_eq!(m.component_file(), "hello.wasm");
        assert_eq!(m.limits.memory_mb, 64);
    }

    #[test]
    fn refuses_unknown_keys_naming_them() {
        let err =
            Manifest::parse(&format!("{GOOD}\ncolour = \"red\""), "x/plugin.toml").unwrap_err();
        assert!(
            err.contains("x/plugin.toml") && err.contains("colour"),
            "{err}"
        );
        let err =
            Manifest::parse(&format!("{GOOD}\n[limits]\nmemory = 3"), "plugin.toml").unwrap_err();
        assert!(err.contains("memory"), "{err}");
    }

    #[test]
    fn refuses_bad_values() {
        let bad_cap = GOOD.replace("[\"kv\"]", "[\"kv\", \"teleport\"]");
        assert!(Manifest::parse(&bad_cap, "p")
            .unwrap_err()
            .contains("teleport"));
        let bad_id = GOOD.replace("\"hello\"", "\"Hello World\"");
        assert!(Manifest::parse(&bad_id, "p")
            .unwrap_err()
            .contains("key `id`"));
        let bad_ver = GOOD.replace("\"^0.1\"", "\"zero\"");
        assert!(Manifest::parse(&bad_ver, "p").is_err());
        let bad_event = format!("{GOOD}\nevents = [\"weather\"]");
        assert!(Manifest::parse(&bad_event, "p")
            .unwrap_err()
            .contains("weather"));
        let host_mount = format!("{GOOD}\nmount = \"/farm/x\"");
        assert!(Manifest::parse(&host_mount, "p")
            .unwrap_err()
            .contains("reserved"));
        let root = format!("{GOOD}\nroot-routes = [\"GET /.well-known/x\"]");
        assert_eq!(
            Manifest::parse(&root, "p").unwrap().root_route_specs()[0].path,
            "/.well-known/x"
        );
        let bad_root = format!("{GOOD}\nroot-routes = [\"/no-method\"]");
        assert!(Manifest::parse(&bad_root, "p")
            .unwrap_err()
            .contains("key `root-routes`"));
        let per_printer = format!(
            "{GOOD}\nmount = \"/x/{{printer}}\"\nper-printer = true\nroot-routes = [\"GET /x\"]"
        );
        let err = Manifest::parse(&per_printer, "p").unwrap_err();
        assert!(
            err.contains("root-routes") && err.contains("per-printer"),
            "{err}"
        );
        for calls in ["0", "100001"] {
            let reuse = format!("{GOOD}\n[limits]\ncalls-per-instance = {calls}");
            let err = Manifest::parse(&reuse, "p").unwrap_err();
            assert!(err.contains("limits.calls-per-instance"), "{err}");
        }
    }

    #[test]
    fn pages_must_be_get_routes_without_parameters() {
        let page = |routes: &str, path: &str, title: &str| {
            let text = GOOD.replace("[\"GET /greet/{name}\"]", routes);
            Manifest::parse(
                &format!("{text}\npages = [{{ title = \"{title}\", path = \"{path}\" }}]"),
                "p",
            )
        };
        let m = page("[\"GET,POST /\", \"GET /greet/{name}\"]", "/", "Greetings").unwrap();
        assert_eq!(m.pages[0].title, "Greetings");
        for (routes, path, title, why) in [
            ("[\"POST /\"]", "/", "Greetings", "not a `GET` route"),
            (
                "[\"GET /greet/{name}\"]",
                "/greet/{name}",
                "Greetings",
                "without parameters",
            ),
            ("[\"GET /\"]", "/other", "Greetings", "add `\"GET /other\"`"),
            ("[\"GET /\"]", "/", "", "1-60 characters"),
        ] {
            let err = page(routes, path, title).unwrap_err();
            assert!(err.contains("key `pages`") && err.contains(why), "{err}");
        }
    }

    #[test]
    fn a_fresh_instance_per_call_unless_the_plugin_asks() {
        assert_eq!(
            Manifest::parse(GOOD, "p")
                .unwrap()
                .limits
                .calls_per_instance,
            1
        );
        let reuse = format!("{GOOD}\n[limits]\ncalls-per-instance = 1000");
        assert_eq!(
            Manifest::parse(&reuse, "p")
                .unwrap()
                .limits
                .calls_per_instance,
            1000
        );
    }
}
