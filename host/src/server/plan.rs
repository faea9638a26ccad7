//! Check, then start: the first of the two steps. [`Plan::build`] reads everything the server
//! needs from the config and the plugin packages (manifests, API versions, config schemas, grants,
//! outbound origins and the config URLs they must cover, mounts, the route table, printers and
//! their profiles) and reports every problem at once. It writes nothing, opens no port or database and compiles nothing, so
//! `printfarm check` can run it alone; [`super::prepare`] starts only a valid plan.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::{FarmConfig, PluginSettings};
use crate::plugin::outbound::OutboundPolicy;
use crate::plugin::{Capability, Package};
use crate::router::table::{build, MountPlan};
use crate::router::Listener;

/// A server checked and ready to start.
pub struct Plan {
    /// The config it was built from.
    pub config: FarmConfig,
    /// The plugins to run, in the order of their ids.
    pub plugins: Vec<PlannedPlugin>,
    /// The listeners and their routes.
    pub listeners: Vec<Listener>,
}

/// One plugin of a [`Plan`].
pub struct PlannedPlugin {
    /// Its package, checked.
    pub package: Package,
    /// Its `[plugins.<id>]` settings.
    pub settings: PluginSettings,
    /// The capabilities the operator granted (for a shipped plugin without `grants`, all it
    /// declares).
    pub granted: Vec<Capability>,
    /// Where it may send traffic: the origins the operator granted, or its manifest's.
    pub outbound: OutboundPolicy,
}

/// Every problem that keeps a config from starting, each saying where it is and what to do.
#[derive(Debug, thiserror::Error)]
#[error("the configuration cannot start:\n  {}", .problems.join("\n  "))]
pub struct PlanError {
    /// The problems, config keys first, then plugin packages, then mounts.
    pub problems: Vec<String>,
}

impl Plan {
    /// Builds the plan from `config` and the `problems` already found in it (by
    /// [`FarmConfig::load_all`]), adding every problem of the packages and mounts.
    pub fn build(config: FarmConfig, mut problems: Vec<String>) -> Result<Plan, PlanError> {
        let plugins = select_plugins(&config, &mut problems);
        let plans: Vec<MountPlan> = plugins
            .iter()
            .enumerate()
            .map(|(i, plugin)| MountPlan {
                plugin: i,
                id: plugin.package.manifest.id.clone(),
                mount: plugin
                    .settings
                    .mount
                    .clone()
                    .unwrap_or_else(|| plugin.package.manifest.default_mount()),
                per_printer: plugin.package.manifest.per_printer,
                routes: plugin.package.manifest.route_specs(),
                push_routes: plugin.package.manifest.push_routes.clone(),
                root_routes: plugin.package.manifest.root_route_specs(),
                listen: plugin.settings.listen,
                first_port: plugin.settings.first_port,
            })
            .collect();
        let mut mounts_valid = true;
        for plan in &plans {
            let id = &plan.id;
            if let Err(e) = crate::router::validate_mount(&plan.mount, plan.per_printer) {
                problems.push(format!("[plugins.{id}] mount: {e}"));
                mounts_valid = false;
            }
            if plan.listen.is_some() && plan.per_printer {
                problems.push(format!("[plugins.{id}] listen: a per-printer plugin takes `first-port` (one port per printer), not `listen`"));
                mounts_valid = false;
            }
            if plan.first_port.is_some() && !plan.per_printer {
                problems.push(format!(
                    "[plugins.{id}] first-port: only per-printer plugins take `first-port`; use `listen`"
                ));
                mounts_valid = false;
            }
        }
        let printer_ids: Vec<String> = config.printers.iter().map(|p| p.id.clone()).collect();
        let listeners = if mounts_valid {
            build(config.listen, &plans, &printer_ids).unwrap_or_else(|e| {
                problems.push(e.to_string());
                Vec::new()
            })
        } else {
            Vec::new()
        };
        if problems.is_empty() {
            Ok(Plan {
                config,
                plugins,
                listeners,
            })
        } else {
            Err(PlanError { problems })
        }
    }
}

/// A package found on disk, and whether it ships with printfarm.
struct Found {
    dir: PathBuf,
    shipped: bool,
}

/// The package directories under the shipped directory and the config's `plugin-dirs`.
fn discover(shipped: Option<&Path>, extra: &[PathBuf], problems: &mut Vec<String>) -> Vec<Found> {
    let mut found = Vec::new();
    let roots = shipped
        .into_iter()
        .map(|d| (d.to_path_buf(), true))
        .chain(extra.iter().map(|d| (d.clone(), false)));
    for (root, shipped) in roots {
        if !root.is_dir() {
            if !shipped {
                problems.push(format!(
                    "plugin directory {} (plugin-dirs in printfarm.toml) does not exist",
                    root.display()
                ));
            } else {
                tracing::warn!(dir = %root.display(), "no shipped plugins found; run scripts/build-plugins");
            }
            continue;
        }
        let entries = match std::fs::read_dir(&root) {
            Ok(entries) => entries,
            Err(e) => {
                problems.push(format!("reading plugin directory {}: {e}", root.display()));
                continue;
            }
        };
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("plugin.toml").is_file())
            .collect();
        dirs.sort();
        found.extend(dirs.into_iter().map(|dir| Found { dir, shipped }));
    }
    found
}

/// Picks the packages to run: shipped ones unless disabled, third-party ones the config enables;
/// checks each (manifest, API version, config schema, outbound grant, and the config's URLs
/// against that grant) and records every refusal.
fn select_plugins(config: &FarmConfig, problems: &mut Vec<String>) -> Vec<PlannedPlugin> {
    let shipped_dir = super::shipped_plugins_dir();
    let found = discover(shipped_dir.as_deref(), &config.plugin_dirs, problems);
    let mut selected: BTreeMap<String, (Package, PluginSettings, bool)> = BTreeMap::new();
    let mut refused = Vec::new();
    for Found { dir, shipped } in found {
        let dir_name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Decide from the config whether this package is wanted before judging it.
        let settings_for = |id: &str| config.plugins.get(id).cloned();
        let wanted = |id: &str| match settings_for(id) {
            Some(s) => s.enabled.unwrap_or(true),
            None => shipped,
        };
        let package = match Package::load(&dir) {
            Ok(p) => p,
            Err(e) if wanted(&dir_name) || shipped => {
                problems.push(e.to_string());
                refused.push(dir_name);
                continue;
            }
            Err(e) => {
                tracing::info!(dir = %dir.display(), error = %e, "skipping a plugin package that is not enabled");
                continue;
            }
        };
        let id = package.manifest.id.clone();
        if !wanted(&id) {
            tracing::info!(plugin = %id, "plugin not enabled");
            continue;
        }
        let settings = settings_for(&id).unwrap_or_default();
        if let Err(e) = package.validate_config(&settings.config_json()) {
            problems.push(e.to_string());
        }
        if let Some((other, _, _)) = selected.get(&id) {
            problems.push(format!(
                "two plugin packages have the id `{id}`: {} and {}",
                other.dir.display(),
                dir.display()
            ));
            continue;
        }
        selected.insert(id, (package, settings, shipped));
    }
    for (id, settings) in &config.plugins {
        if settings.enabled.unwrap_or(true) && !selected.contains_key(id) && !refused.contains(id) {
            problems.push(format!(
                "[plugins.{id}] is enabled but no package with id `{id}` was found in {}{}",
                shipped_dir
                    .as_ref()
                    .map(|d| d.display().to_string())
                    .unwrap_or_else(|| "(no shipped dir)".into()),
                config
                    .plugin_dirs
                    .iter()
                    .map(|d| format!(", {}", d.display()))
                    .collect::<String>()
            ));
        }
    }
    selected
        .into_values()
        .map(|(package, settings, shipped)| {
            let manifest = &package.manifest;
            let granted = match settings.granted() {
                Some(granted) => granted,
                None if shipped => manifest.capabilities.clone(),
                None => Vec::new(),
            };
            let outbound =
                OutboundPolicy::new(&manifest.outbound_hosts, settings.outbound_hosts.as_deref());
            let outbound = match outbound {
                Ok(outbound) => {
                    // Only against a valid grant: against none, every URL would be a problem.
                    problems.extend(
                        package.outbound_config_problems(&settings.config_json(), &outbound),
                    );
                    outbound
                }
                Err(e) => {
                    problems.push(format!("[plugins.{}] outbound-hosts: {e}", manifest.id));
                    OutboundPolicy::default()
                }
            };
            PlannedPlugin {
                package,
                settings,
                granted,
                outbound,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A package `id` in `root` (manifest `extra` lines, config schema `schema`, a placeholder
    /// component: the plan compiles nothing).
    fn package(root: &Path, id: &str, extra: &str, schema: &str) {
        let dir = root.join(id);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("plugin.toml"),
            format!(
                "id = \"{id}\"\nversion = \"0.1.0\"\napi = \"^0.1\"\nconfig-schema = \"schema.json\"\n{extra}"
            ),
        )
        .unwrap();
        std::fs::write(dir.join("schema.json"), schema).unwrap();
        std::fs::write(dir.join(format!("{}.wasm", id.replace('-', "_"))), b"").unwrap();
    }

    /// The problems of a config of the packages in `root` plus `tables`.
    fn problems(root: &Path, tables: &str) -> Vec<String> {
        let text = format!("plugin-dirs = [{:?}]\n{tables}", root.display().to_string());
        let config = FarmConfig::parse(&text, "printfarm.toml").unwrap();
        match Plan::build(config, Vec::new()) {
            Ok(_) => Vec::new(),
            Err(e) => e.problems,
        }
    }

    const LINKER: &str = r#"{
        "type": "object",
        "properties": {
            "server": { "type": "string", "default": "https://cloud.example", "x-printfarm-outbound": true },
            "upstream": { "type": "object", "properties": {
                "url": { "type": "string", "x-printfarm-outbound": true }
            } },
            "label": { "type": "string" }
        }
    }"#;

    fn linker(root: &Path) {
        package(
            root,
            "linker",
            "routes = [\"GET /status\"]\ncapabilities = [\"outbound-http\"]\noutbound-hosts = [\"https://cloud.example\"]",
            LINKER,
        );
    }

    /// A URL in a property the schema marks `x-printfarm-outbound`, or the schema's default when
    /// the operator set none, must be granted; the problem says which key, which value and what
    /// to add where. Nested properties count too.
    #[test]
    fn config_urls_must_be_granted_before_start() {
        let root = tempfile::tempdir().unwrap();
        linker(root.path());
        let base = "[plugins.linker]\ngrants = [\"outbound-http\"]\n";
        // The default is the manifest's origin, granted when the operator lists none.
        assert!(problems(root.path(), base).is_empty());

        let self_hosted = format!(
            "{base}[plugins.linker.config]\nserver = \"https://obico.example:3334/\"\nlabel = \"https://ignored.example\"\n"
        );
        let found = problems(root.path(), &self_hosted);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with(
                "plugins.linker.config.server = \"https://obico.example:3334/\": origin \
                 https://obico.example:3334 is not granted to plugin linker: add \
                 \"https://obico.example:3334\" to outbound-hosts under [plugins.linker]"
            ),
            "{}",
            found[0]
        );
        let granted = format!(
            "{base}outbound-hosts = [\"https://obico.example:3334\"]\n[plugins.linker.config]\nserver = \"https://obico.example:3334/\"\n"
        );
        assert!(problems(root.path(), &granted).is_empty());

        // The operator's list replaces the manifest's: the default is not granted any more.
        let replaced = format!("{base}outbound-hosts = [\"https://obico.example:3334\"]\n");
        let found = problems(root.path(), &replaced);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with(
                "plugins.linker.config.server = \"https://cloud.example\" (the schema's default): \
                 origin https://cloud.example:443 is not granted"
            ),
            "{}",
            found[0]
        );

        let nested = format!(
            "{base}[plugins.linker.config.upstream]\nurl = \"ws://10.0.0.9:7125/websocket\"\n"
        );
        let found = problems(root.path(), &nested);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with(
                "plugins.linker.config.upstream.url = \"ws://10.0.0.9:7125/websocket\": origin \
                 http://10.0.0.9:7125 is not granted"
            ),
            "{}",
            found[0]
        );

        let not_a_url = format!("{base}[plugins.linker.config]\nserver = \"obico.example\"\n");
        let found = problems(root.path(), &not_a_url);
        assert!(
            found.len() == 1 && found[0].contains("not a URL"),
            "{found:?}"
        );
        let empty = format!("{base}[plugins.linker.config]\nserver = \"\"\n");
        assert!(problems(root.path(), &empty).is_empty(), "empty means none");
    }

    #[test]
    fn the_outbound_mark_fits_only_string_properties() {
        let root = tempfile::tempdir().unwrap();
        package(
            root.path(),
            "linker",
            "routes = [\"GET /status\"]",
            r#"{"type": "object", "properties": {"port": {"type": "integer", "x-printfarm-outbound": true}}}"#,
        );
        let found = problems(root.path(), "[plugins.linker]\n");
        assert!(
            found
                .iter()
                .any(|p| p.contains("x-printfarm-outbound") && p.contains("`port`")),
            "{found:?}"
        );
    }

    /// Root routes are checked with every other route: one into the host's prefix, or one
    /// another plugin's routes can match, is a problem of the plan naming both.
    #[test]
    fn root_routes_conflict_like_any_route() {
        let root = tempfile::tempdir().unwrap();
        let schema = r#"{"type": "object"}"#;
        package(
            root.path(),
            "finder",
            "routes = [\"GET /status\"]\nroot-routes = [\"GET /plugin/finder/secret\"]",
            schema,
        );
        package(
            root.path(),
            "catchall",
            "mount = \"/plugin\"\nroutes = [\"GET /{*rest}\"]",
            schema,
        );
        let both = "[plugins.finder]\n[plugins.catchall]\n";
        let found = problems(root.path(), both);
        assert!(
            found.iter().any(|p| p.contains("route conflict")
                && p.contains("finder")
                && p.contains("catchall")),
            "{found:?}"
        );
        assert!(problems(root.path(), "[plugins.finder]\n").is_empty());
        let own_listener = "[plugins.finder]\nlisten = \"127.0.0.1:8099\"\n[plugins.catchall]\n";
        assert!(
            !problems(root.path(), own_listener).is_empty(),
            "a root route is on the main listener even for a plugin with a listener of its own"
        );
    }
}
