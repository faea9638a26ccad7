//! Wiring: config → storage → engine → packages → routes → components → init → listeners.
//!
//! Everything that can be refused is refused before anything is compiled: manifests, API versions,
//! config schemas, grants and route conflicts.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context as _};

use crate::config::{FarmConfig, PluginSettings};
use crate::core::scheduler::{ActivePrints, Scheduler};
use crate::core::Fleet;
use crate::events::EventBus;
use crate::http::HostState;
use crate::plugin::{Capability, Package};
use crate::router::table::{build, MountPlan};
use crate::router::Listener;
use crate::runtime::host::sockets::SocketHub;
use crate::runtime::state::PluginContext;
use crate::runtime::{LoadedPlugin, PluginEngine, Services};
use crate::storage::Storage;
use printfarm_core::identity::{Identities, FIRST_ADMIN};
use printfarm_core::library::Library;
use printfarm_core::queue::{PrinterFacts, Queue};

/// Environment variable naming the directory of shipped plugin packages.
pub const SHIPPED_PLUGINS_ENV: &str = "PRINTFARM_PLUGINS";

/// Where shipped plugins are looked for: `$PRINTFARM_PLUGINS`, else `plugins/` next to the
/// binary's directory (`target/plugins` for `target/debug/printfarm`, where scripts/build-plugins puts them).
pub fn shipped_plugins_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(SHIPPED_PLUGINS_ENV) {
        return Some(PathBuf::from(dir));
    }
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.join("plugins"))
}

/// A package found on disk, and whether it ships with printfarm.
struct Found {
    dir: PathBuf,
    shipped: bool,
}

fn discover(shipped: Option<&Path>, extra: &[PathBuf]) -> anyhow::Result<Vec<Found>> {
    let mut found = Vec::new();
    let roots = shipped
        .into_iter()
        .map(|d| (d.to_path_buf(), true))
        .chain(extra.iter().map(|d| (d.clone(), false)));
    for (root, shipped) in roots {
        if !root.is_dir() {
            if !shipped {
                bail!(
                    "plugin directory {} (plugin-dirs in printfarm.toml) does not exist",
                    root.display()
                );
            }
            tracing::warn!(dir = %root.display(), "no shipped plugins found; run scripts/build-plugins");
            continue;
        }
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
            .with_context(|| format!("reading plugin directory {}", root.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("plugin.toml").is_file())
            .collect();
        dirs.sort();
        found.extend(dirs.into_iter().map(|dir| Found { dir, shipped }));
    }
    Ok(found)
}

/// A server ready to listen.
pub struct Prepared {
    /// Shared state of all listeners.
    pub host: Arc<HostState>,
    /// The listeners and their routes.
    pub listeners: Vec<Listener>,
}

/// Loads everything and builds the routes, without binding any socket.
pub async fn prepare(config: FarmConfig) -> anyhow::Result<Prepared> {
    let data_dir = config.data_dir();
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
    let staging_dir = data_dir.join("staging");
    // Leftovers of a crash are never handed to anyone: start with an empty staging area.
    let _ = std::fs::remove_dir_all(&staging_dir);
    std::fs::create_dir_all(&staging_dir)
        .with_context(|| format!("creating {}", staging_dir.display()))?;
    let storage = Storage::open_sqlite(&data_dir.join("printfarm.db")).await?;
    let engine = PluginEngine::new(&config.cache_dir())?;

    let identities = Identities::new(storage.clone());
    if let Some(key) = identities.ensure_first_admin().await? {
        tracing::warn!(
            user = FIRST_ADMIN,
            api_key = %key,
            "no users existed: created the admin `{FIRST_ADMIN}`. Its API key is shown this once: \
             {key} (add users with `printfarm user add`)"
        );
    }
    let library = Library::open(
        storage.clone(),
        &data_dir.join("library"),
        config.upload_limit_bytes(),
    )
    .await?;
    let facts = config
        .printers
        .iter()
        .map(|p| PrinterFacts {
            id: p.id.clone(),
            tags: p.tags(),
        })
        .collect();
    let queue = Queue::open(storage.clone(), library.clone(), facts).await?;
    let holds = recover(&queue).await?;

    let events = EventBus::default();
    let active = ActivePrints::default();
    let printers = Fleet::start(&config.printers, &data_dir, &events, holds, &active)?;
    crate::core::bridge::spawn(&library, &queue, &events);
    let scheduler = Scheduler::new(
        printers.clone(),
        queue.clone(),
        library.clone(),
        active.clone(),
    );
    scheduler.spawn();
    let services = Arc::new(Services {
        storage,
        printers,
        identities,
        library,
        queue,
        active,
        scheduler,
        events,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("printfarm/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("building the HTTP client")?,
        sockets: SocketHub::default(),
    });

    let packages = select_packages(&config)?;

    let printer_ids: Vec<String> = config.printers.iter().map(|p| p.id.clone()).collect();
    let plans: Vec<MountPlan> = packages
        .iter()
        .enumerate()
        .map(|(i, (package, settings, _))| MountPlan {
            plugin: i,
            id: package.manifest.id.clone(),
            mount: settings
                .mount
                .clone()
                .unwrap_or_else(|| package.manifest.default_mount()),
            per_printer: package.manifest.per_printer,
            routes: package.manifest.route_specs(),
            push_routes: package.manifest.push_routes.clone(),
            listen: settings.listen,
            first_port: settings.first_port,
        })
        .collect();
    for plan in &plans {
        crate::router::validate_mount(&plan.mount, plan.per_printer)
            .map_err(|e| anyhow::anyhow!("[plugins.{}] mount: {e}", plan.id))?;
        if plan.listen.is_some() && plan.per_printer {
            bail!("[plugins.{}] listen: a per-printer plugin takes `first-port` (one port per printer), not `listen`", plan.id);
        }
        if plan.first_port.is_some() && !plan.per_printer {
            bail!(
                "[plugins.{}] first-port: only per-printer plugins take `first-port`; use `listen`",
                plan.id
            );
        }
    }
    let listeners = build(config.listen, &plans, &printer_ids)?;

    let mut plugins = Vec::new();
    for (package, settings, shipped) in packages {
        let manifest = &package.manifest;
        let granted: Vec<Capability> = match &settings.grants {
            Some(g) => g.clone(),
            None if shipped => manifest.capabilities.clone(),
            None => Vec::new(),
        };
        let ctx = Arc::new(
            PluginContext::new(
                manifest,
                granted,
                settings.outbound_hosts.as_deref(),
                settings.config_json().to_string(),
                services.clone(),
            )
            .map_err(anyhow::Error::msg)?,
        );
        let started = std::time::Instant::now();
        let loaded = LoadedPlugin::load(&engine, package, ctx)?;
        tracing::info!(plugin = %loaded.id(), source = ?loaded.compiled, ms = started.elapsed().as_millis() as u64, "plugin loaded");
        plugins.push(Arc::new(loaded));
    }

    for plugin in &plugins {
        match plugin.init().await {
            Ok(Ok(())) => {}
            Ok(Err(reason)) => plugin.disable(format!("its init refused the config: {reason}")),
            Err(e) => plugin.disable(format!("init failed: {e}")),
        }
        let hooks = plugin.start_hook_worker();
        services.sockets.register_hooks(plugin.id(), hooks);
    }

    let host = Arc::new(HostState {
        plugins,
        services,
        staging_dir,
        upload_limit: config.upload_limit_bytes(),
    });
    Ok(Prepared { host, listeners })
}

/// Marks the prints a stopped server left running as interrupted, and returns the printers to
/// hold (send nothing to) until an operator decides, with the reason they show.
async fn recover(queue: &Queue) -> anyhow::Result<HashMap<String, String>> {
    for record in queue.recover_interrupted().await? {
        tracing::warn!(
            printer = %record.printer,
            task = record.task_id,
            file = %record.file,
            last_line = record.last_line,
            file_pos = record.file_pos,
            "a print was interrupted by the server stopping; its printer is held until an operator retries or dismisses the task"
        );
    }
    let mut holds = HashMap::new();
    for job in queue.jobs().await? {
        for task in job.tasks.iter().filter(|t| t.needs_decision) {
            if let Some(printer) = &task.printer {
                holds.insert(
                    printer.clone(),
                    format!(
                        "held: task {} ({}) was interrupted at line {}; retry or dismiss it \
                         (POST /farm/api/tasks/{}/retry or /dismiss) before anything is sent to this printer",
                        task.id,
                        job.file,
                        task.last_line.unwrap_or(0),
                        task.id
                    ),
                );
            }
        }
    }
    Ok(holds)
}

/// Picks the packages to run: shipped ones unless disabled, third-party ones the config enables.
/// Every refusal (manifest, API version, config schema) happens here, before compilation.
fn select_packages(config: &FarmConfig) -> anyhow::Result<Vec<(Package, PluginSettings, bool)>> {
    let shipped_dir = shipped_plugins_dir();
    let found = discover(shipped_dir.as_deref(), &config.plugin_dirs)?;
    let mut selected: BTreeMap<String, (Package, PluginSettings, bool)> = BTreeMap::new();
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
            Err(e) if wanted(&dir_name) || shipped => return Err(e.into()),
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
        package.validate_config(&settings.config_json())?;
        if let Some((other, _, _)) = selected.get(&id) {
            bail!(
                "two plugin packages have the id `{id}`: {} and {}",
                other.dir.display(),
                dir.display()
            );
        }
        selected.insert(id, (package, settings, shipped));
    }
    for (id, settings) in &config.plugins {
        if settings.enabled.unwrap_or(true) && !selected.contains_key(id) {
            bail!(
                "[plugins.{id}] is enabled but no package with id `{id}` was found in {}{}",
                shipped_dir
                    .map(|d| d.display().to_string())
                    .unwrap_or_else(|| "(no shipped dir)".into()),
                config
                    .plugin_dirs
                    .iter()
                    .map(|d| format!(", {}", d.display()))
                    .collect::<String>()
            );
        }
    }
    Ok(selected.into_values().collect())
}

/// Binds every listener and serves until Ctrl-C / SIGTERM.
pub async fn serve(prepared: Prepared) -> anyhow::Result<()> {
    let Prepared { host, listeners } = prepared;
    let mut tasks = tokio::task::JoinSet::new();
    for listener in listeners {
        let label = listener.label.clone();
        let (addr, app) = crate::http::app(host.clone(), listener);
        let socket = tokio::net::TcpListener::bind(addr).await.with_context(|| {
            format!("cannot listen on {addr} ({label}); is another server using it?")
        })?;
        tracing::info!(%addr, %label, "listening");
        tasks.spawn(async move {
            axum::serve(
                socket,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .with_graceful_shutdown(shutdown_signal())
            .await
        });
    }
    tracing::info!(plugins = host.plugins.len(), "printfarm is ready");
    while let Some(result) = tasks.join_next().await {
        result
            .context("a listener task panicked")?
            .context("a listener failed")?;
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
}
