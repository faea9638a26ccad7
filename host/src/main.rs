//! The `printfarm` command: run the server, manage users, check a plugin package, and drive a
//! running server (printers, uploads, jobs, bed clearing).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use printfarm::config::FarmConfig;
use printfarm::plugin::outbound::OutboundPolicy;
use printfarm::plugin::Package;
use printfarm::runtime::context::PluginContext;
use printfarm::runtime::state::CallContext;
use printfarm::runtime::{LoadedPlugin, PluginEngine, Services};

/// A plugin call on a fresh instance creates and drops a store and an instance: many small
/// allocations from several threads, which mimalloc serves markedly faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A self-hosted server for 3D-printer farms.
#[derive(Parser)]
#[command(name = "printfarm", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// The config file. Default: ./printfarm.toml if it exists, else the embedded defaults.
        #[arg(long, env = "PRINTFARM_CONFIG")]
        config: Option<PathBuf>,
        /// The data directory (database, caches, staging), overriding the config.
        #[arg(long, env = "PRINTFARM_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// The main listen address, overriding the config.
        #[arg(long, env = "PRINTFARM_LISTEN")]
        listen: Option<SocketAddr>,
    },
    /// Check a config without starting anything: its keys, printers and profiles, the plugin
    /// packages it enables (manifests, API versions, config schemas, grants, outbound origins)
    /// and their mounts. Every problem is listed; the exit code is 0 for a config that can start,
    /// 1 otherwise. Writes nothing, opens no port or database, compiles nothing.
    Check {
        /// The config file. Default: ./printfarm.toml if it exists, else the embedded defaults.
        #[arg(long, env = "PRINTFARM_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Plugin packages.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Farm users (works on the data directory; the server may be running).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Operations on a running server.
    #[command(flatten)]
    Remote(printfarm::cli::remote::RemoteCommand),
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user and print its API key (on a line of its own, shown this once).
    Add {
        /// The user name.
        name: String,
        /// admin, operator or viewer.
        #[arg(long, default_value = "operator")]
        role: printfarm_core::identity::Role,
        /// A password for browser logins (prefer --password-stdin: arguments are visible to other users).
        #[arg(long, conflicts_with = "password_stdin")]
        password: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// The data directory (as for `serve`).
        #[arg(long, env = "PRINTFARM_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// The config file, for its data-dir.
        #[arg(long, env = "PRINTFARM_CONFIG")]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Validate a plugin package (manifest, API version, config schema, that the component
    /// instantiates) and print what it would mount and which capabilities it needs.
    Check {
        /// The package directory (holding plugin.toml and the component).
        dir: PathBuf,
        /// A printfarm.toml whose [plugins.<id>.config] to validate too.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Write a new plugin crate that builds, checks and runs as it is (a route, a unit test,
    /// its manifest, a README with the commands).
    New {
        /// The plugin id (lowercase letters, digits, `-`), also the crate's name.
        id: String,
        /// The directory to create. Default: ./<id>.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The printfarm-sdk crate to depend on. Default: the `sdk` directory of the checkout
        /// this binary was built in, when there is one.
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // A check's output is its verdict; the server's progress log would only bury it.
    let default_level = match cli.command {
        Command::Check { .. } => "warn",
        _ => "info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(printfarm::logging::filter(default_level))
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal: logs written to files stay greppable.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve {
                config,
                data_dir,
                listen,
            } => serve(config, data_dir, listen).await,
            Command::Check { config } => check_farm(config.as_deref()),
            Command::Plugin {
                command: PluginCommand::Check { dir, config },
            } => check(&dir, config.as_deref()).await,
            Command::Plugin {
                command: PluginCommand::New { id, dir, sdk },
            } => new_plugin(&id, dir, sdk),
            Command::User {
                command:
                    UserCommand::Add {
                        name,
                        role,
                        password,
                        password_stdin,
                        data_dir,
                        config,
                    },
            } => {
                let data_dir = match data_dir {
                    Some(d) => d,
                    None => load_config(config.as_deref())?.data_dir(),
                };
                let source = match (password, password_stdin) {
                    (Some(p), _) => printfarm::cli::users::PasswordSource::Given(p),
                    (None, true) => printfarm::cli::users::PasswordSource::Stdin,
                    (None, false) => printfarm::cli::users::PasswordSource::None,
                };
                let key = printfarm::cli::users::add(&data_dir, &name, role, source).await?;
                eprintln!("created user `{name}` ({role}); its API key follows, shown this once:");
                println!("{key}");
                Ok(())
            }
            Command::Remote(command) => printfarm::cli::remote::run(command).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn load_config(path: Option<&Path>) -> anyhow::Result<FarmConfig> {
    let (config, _, problems) = load_config_all(path)?;
    if !problems.is_empty() {
        anyhow::bail!("{}", problems.join("\n"));
    }
    Ok(config)
}

/// The config (`--config`, else ./printfarm.toml, else the embedded defaults), its name, and
/// every problem found in it, each after that name; an error only when it cannot be read as a
/// config at all.
fn load_config_all(path: Option<&Path>) -> anyhow::Result<(FarmConfig, String, Vec<String>)> {
    let file = match path {
        Some(p) => p,
        None if Path::new("printfarm.toml").is_file() => Path::new("printfarm.toml"),
        None => {
            let name = "<embedded defaults>".to_string();
            return Ok((FarmConfig::embedded_defaults(), name, Vec::new()));
        }
    };
    let (config, problems) = FarmConfig::load_all(file)?;
    let name = file.display().to_string();
    let problems = problems
        .into_iter()
        .map(|problem| format!("{name}: {problem}"))
        .collect();
    Ok((config, name, problems))
}

/// Writes a plugin skeleton and says what to do next.
fn new_plugin(id: &str, dir: Option<PathBuf>, sdk: Option<PathBuf>) -> anyhow::Result<()> {
    let dir = dir.unwrap_or_else(|| PathBuf::from(id));
    // target/<profile>/printfarm in a checkout: the SDK is ../../sdk from the binary's directory.
    let sdk = match sdk {
        Some(sdk) => sdk,
        None => std::env::current_exe()
            .ok()
            .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.join("sdk")))
            .filter(|sdk| sdk.join("Cargo.toml").is_file())
            .context("no printfarm-sdk found next to this binary; pass --sdk DIR (the `sdk` directory of a printfarm checkout)")?,
    };
    for path in printfarm::cli::new_plugin::write(&dir, id, &sdk)? {
        println!("wrote {}", path.display());
    }
    println!(
        "next: cd {} && cargo test; then see its README.md",
        dir.display()
    );
    Ok(())
}

/// Checks a config with every plugin it enables: the plan, without starting it.
fn check_farm(path: Option<&Path>) -> anyhow::Result<()> {
    let (config, name, problems) = load_config_all(path)?;
    let plan = printfarm::server::Plan::build(config, problems)?;
    println!("{name} can start:");
    println!("  {} printers", plan.config.printers.len());
    for plugin in &plan.plugins {
        let m = &plugin.package.manifest;
        let granted: Vec<String> = plugin.granted.iter().map(|c| c.to_string()).collect();
        println!(
            "  plugin {} {} (API {}), granted: {}",
            m.id,
            m.version,
            m.api,
            if granted.is_empty() {
                "nothing".to_string()
            } else {
                granted.join(", ")
            }
        );
    }
    for listener in &plan.listeners {
        println!("  listens on {} ({})", listener.addr, listener.label);
    }
    Ok(())
}

async fn serve(
    config: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    listen: Option<SocketAddr>,
) -> anyhow::Result<()> {
    let (mut config, _, problems) = load_config_all(config.as_deref())?;
    if let Some(d) = data_dir {
        config.data_dir = Some(d);
    }
    if let Some(l) = listen {
        config.listen = l;
    }
    let plan = printfarm::server::Plan::build(config, problems)?;
    let prepared = printfarm::server::start(plan).await?;
    printfarm::server::serve(prepared).await
}

async fn check(dir: &Path, config: Option<&Path>) -> anyhow::Result<()> {
    let package = Package::load(dir)?;
    let m = package.manifest.clone();
    let settings = match config {
        Some(path) => load_config(Some(path))?
            .plugins
            .get(&m.id)
            .cloned()
            .unwrap_or_default(),
        None => Default::default(),
    };
    package.validate_config(&settings.config_json())?;

    let scratch = tempfile::tempdir().context("creating a scratch directory")?;
    let engine = PluginEngine::new(&scratch.path().join("cache"))?;
    let services = Arc::new(Services::scratch(scratch.path()).await?);
    // Checked as if the operator granted every capability the plugin declares, and the origins
    // the config grants (the manifest's when it has none).
    let outbound = OutboundPolicy::new(&m.outbound_hosts, settings.outbound_hosts.as_deref())
        .map_err(|e| anyhow::anyhow!("[plugins.{}] outbound-hosts: {e}", m.id))?;
    let unreachable = package.outbound_config_problems(&settings.config_json(), &outbound);
    if !unreachable.is_empty() {
        anyhow::bail!(
            "the plugin's config names servers it may not reach:\n  {}",
            unreachable.join("\n  ")
        );
    }
    let ctx = Arc::new(PluginContext::new(
        &m,
        m.capabilities.iter().copied(),
        outbound,
        settings.config_json().to_string(),
        services,
    ));
    let plugin = LoadedPlugin::load(&engine, package, ctx)?;
    plugin
        .begin(CallContext::default())
        .await
        .map_err(|e| anyhow::anyhow!("the component does not instantiate: {e}"))?;
    let init = plugin.init().await?;

    let mount = m.default_mount();
    println!("plugin {} {} (API {}) is valid", m.id, m.version, m.api);
    if let Some(d) = &m.description {
        println!("  {d}");
    }
    println!(
        "mount: {mount}{}",
        if m.per_printer {
            " (once per printer)"
        } else {
            ""
        }
    );
    for r in &m.routes {
        let (method, path) = r.split_once(' ').unwrap_or(("", r));
        println!(
            "  route {method:<8} {}",
            printfarm::router::mount::join(
                &printfarm::router::mount::concrete(&mount, None),
                path.trim()
            )
        );
    }
    for r in &m.root_routes {
        let (method, path) = r.split_once(' ').unwrap_or(("", r));
        println!("  root  {method:<8} {}", path.trim());
    }
    for p in &m.push_routes {
        println!(
            "  push  {:<8} {}",
            "WS",
            printfarm::router::mount::join(&printfarm::router::mount::concrete(&mount, None), p)
        );
    }
    let caps: Vec<String> = m.capabilities.iter().map(|c| c.to_string()).collect();
    println!(
        "capabilities: {}",
        if caps.is_empty() {
            "none".into()
        } else {
            caps.join(", ")
        }
    );
    if !m.outbound_hosts.is_empty() {
        println!("outbound hosts: {}", m.outbound_hosts.join(", "));
    }
    if !m.events.is_empty() {
        println!("events: {}", m.events.join(", "));
    }
    if m.timer_interval_ms > 0 {
        println!("timer: every {} ms", m.timer_interval_ms);
    }
    let l = &m.limits;
    println!(
        "limits: {} MiB memory, {} ms deadline, {} B body, {} B kv values, {} sockets",
        l.memory_mb, l.deadline_ms, l.max_body_bytes, l.max_kv_value_bytes, l.max_sockets
    );
    if l.calls_per_instance > 1 {
        println!(
            "instances: kept between calls, up to {} calls each",
            l.calls_per_instance
        );
    } else {
        println!("instances: a fresh one for every call");
    }
    match init {
        Ok(()) => println!("init: accepted the config"),
        Err(reason) => anyhow::bail!("init refused the config: {reason}"),
    }
    Ok(())
}
