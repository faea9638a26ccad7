//! Wiring: config → plan → storage → engine → components → init → listeners.
//!
//! Check, then start: [`plan`] refuses everything that can be refused (config keys, printer
//! profiles, manifests, API versions, config schemas, grants, outbound origins, mounts and route
//! conflicts), all at once and before anything is written, opened or compiled; [`start`] runs only
//! a valid plan.

pub mod plan;

pub use plan::{Plan, PlanError, PlannedPlugin};

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;

use crate::config::FarmConfig;
use crate::events::EventBus;
use crate::farm::scheduler::ActivePrints;
use crate::farm::Fleet;
use crate::http::HostState;
use crate::router::Listener;
use crate::runtime::context::PluginContext;
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

/// A server ready to listen.
pub struct Prepared {
    /// Shared state of all listeners.
    pub host: Arc<HostState>,
    /// The listeners and their routes.
    pub listeners: Vec<Listener>,
}

/// The dashboard's URL for a listen address (a wildcard address is reached on loopback).
fn dashboard_url(listen: &std::net::SocketAddr) -> String {
    let ip = match listen.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_string(),
        ip if ip.is_unspecified() => "[::1]".to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    format!("http://{ip}:{}/", listen.port())
}

/// Checks `config` and starts it ([`Plan::build`], then [`start`]), without binding any
/// socket; every problem of the config is reported at once, before anything is touched.
pub async fn prepare(config: FarmConfig) -> anyhow::Result<Prepared> {
    start(Plan::build(config, Vec::new())?).await
}

/// Starts a checked plan: the data directory, the database, the printers, the scheduler, the
/// plugins' components and their `init`; binds no socket.
pub async fn start(plan: Plan) -> anyhow::Result<Prepared> {
    let Plan {
        config,
        plugins: planned,
        listeners,
    } = plan;
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
    if let Some(first) = identities.ensure_first_admin().await? {
        let dashboard = dashboard_url(&config.listen);
        tracing::warn!(
            user = FIRST_ADMIN,
            api_key = %first.api_key,
            password = %first.password,
            %dashboard,
            "no users existed: created the admin `{FIRST_ADMIN}`, shown this once. Open the dashboard \
             at {dashboard} and log in as `{FIRST_ADMIN}` with the password {}; API clients use the \
             key {} (add users with `printfarm user add`)",
            first.password,
            first.api_key,
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
    crate::farm::bridge::spawn(&library, &queue, &events);
    let services = Arc::new(
        Services::new(storage, printers, library, queue, active, events)
            .context("building the HTTP client")?,
    );
    services.scheduler.spawn();
    services.stream.spawn_hub(&services.events);

    let mut plugins = Vec::new();
    for PlannedPlugin {
        package,
        settings,
        granted,
        outbound,
    } in planned
    {
        let mount = settings
            .mount
            .clone()
            .unwrap_or_else(|| package.manifest.default_mount());
        let ctx = Arc::new(
            PluginContext::new(
                &package.manifest,
                granted,
                outbound,
                settings.config_json().to_string(),
                services.clone(),
            )
            .mounted_at(mount),
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
