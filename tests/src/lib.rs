//! Helpers for the end-to-end tests: start the real `printfarm` binary on a free port with a
//! config of the test's making, wait until it answers, and stop it when dropped.
//!
//! The binary and the plugin packages are built by `scripts/test` (scripts/build-plugins --tests).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub mod brender_manager;
pub mod obico_standin;
pub mod octoprint_client;
pub mod octoprint_marlin;

/// The workspace's target directory (tests run from target/debug/deps/).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "target"))
        .expect("tests run inside the target directory")
        .to_path_buf()
}

/// Environment variable naming another printfarm binary to run (benchmarks use the release build).
pub const BINARY_ENV: &str = "PRINTFARM_BIN";

/// The printfarm binary: `$PRINTFARM_BIN` (relative to the workspace root), else the debug build.
pub fn binary() -> PathBuf {
    // Relative paths are taken from the workspace root (benches and tests run in their crate's directory).
    let root = target_dir()
        .parent()
        .expect("target/ has a parent")
        .to_path_buf();
    let bin = std::env::var_os(BINARY_ENV)
        .map(|b| root.join(b))
        .unwrap_or_else(|| target_dir().join("debug").join("printfarm"));
    assert!(
        bin.is_file(),
        "{} is missing: run scripts/test (it builds the binary first)",
        bin.display()
    );
    bin
}

/// Shipped plugin packages.
pub fn shipped_plugins() -> PathBuf {
    target_dir().join("plugins")
}

/// Test plugin packages.
pub fn test_plugins() -> PathBuf {
    let dir = target_dir().join("test-plugins");
    assert!(
        dir.is_dir(),
        "{} is missing: run scripts/test (scripts/build-plugins --tests)",
        dir.display()
    );
    dir
}

/// The SDK's example plugins, packaged (`sdk/examples/*`).
pub fn example_plugins() -> PathBuf {
    let dir = target_dir().join("example-plugins");
    assert!(
        dir.is_dir(),
        "{} is missing: run scripts/test (scripts/build-plugins --tests)",
        dir.display()
    );
    dir
}

/// A component cache shared by the test servers, so each component is compiled once per run.
pub fn shared_cache() -> PathBuf {
    target_dir().join("test-component-cache")
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Copies a plugin package directory (to make a variant of it).
pub fn copy_package(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// A plugin directory holding one variant of a built package: copied from `source`, its id
/// changed to `id` (the package directory is named after it), then its plugin.toml passed
/// through `edit`. Returns the plugin directory, to be listed in `plugin-dirs`.
pub fn package_variant(
    source: &Path,
    id: &str,
    edit: impl FnOnce(String) -> String,
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join(id);
    copy_package(source, &pkg);
    let old_id = source.file_name().unwrap().to_string_lossy().into_owned();
    edit_manifest(&pkg, |m| {
        edit(m.replace(&format!("id = \"{old_id}\""), &format!("id = \"{id}\"")))
    });
    dir
}

/// Rewrites a package's plugin.toml with `edit`.
pub fn edit_manifest(dir: &Path, edit: impl FnOnce(String) -> String) {
    let path = dir.join("plugin.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, edit(text)).unwrap();
}

/// A running server.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// The main port.
    pub port: u16,
    /// The scratch directory holding the config and the data directory.
    pub dir: tempfile::TempDir,
    /// The API key of the admin the server created on its first start.
    pub admin_key: String,
    stderr_path: PathBuf,
}

/// How a server run ended when it was expected to refuse its config.
pub struct Refusal {
    /// Exit status code.
    pub code: Option<i32>,
    /// What it wrote to stderr.
    pub stderr: String,
    /// The scratch directory it ran in (its data directory is `data/`).
    pub dir: tempfile::TempDir,
}

impl Refusal {
    /// Files below the data directory whose name ends with `suffix`.
    pub fn data_files_ending_with(&self, suffix: &str) -> Vec<PathBuf> {
        fn walk(dir: &Path, suffix: &str, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, suffix, out);
                } else if path.to_string_lossy().ends_with(suffix) {
                    out.push(path);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.dir.path().join("data"), suffix, &mut out);
        out
    }
}

impl Server {
    /// Starts the server with `config` (TOML without `listen`/`data-dir`, which the harness sets)
    /// and waits until it listens.
    pub fn start(config: &str) -> Server {
        Self::start_with(|| config.to_string())
    }

    /// Like [`Server::start`], with a config made anew for each attempt: ports picked by
    /// [`free_port`] can be taken by a parallel test before the server binds them, so a start that
    /// fails with "cannot listen" is retried with fresh ports.
    pub fn start_with(config: impl Fn() -> String) -> Server {
        let mut last = String::new();
        for _ in 0..5 {
            match Self::try_start_in(tempfile::tempdir().unwrap(), &config(), true) {
                Ok(server) => return server,
                Err(log) if log.contains("cannot listen") => last = log,
                Err(log) => panic!("printfarm exited before it was ready:\n{log}"),
            }
        }
        panic!("printfarm could not find free ports in 5 attempts:\n{last}");
    }

    /// Starts the server in an existing scratch directory (for restarts).
    pub fn start_in(dir: tempfile::TempDir, config: &str, use_shared_cache: bool) -> Server {
        Self::try_start_in(dir, config, use_shared_cache)
            .unwrap_or_else(|log| panic!("printfarm exited before it was ready:\n{log}"))
    }

    /// Starts the server; on an early exit, returns what it logged.
    pub fn try_start_in(
        dir: tempfile::TempDir,
        config: &str,
        use_shared_cache: bool,
    ) -> Result<Server, String> {
        let port = free_port();
        let mut full = format!("listen = \"127.0.0.1:{port}\"\ndata-dir = \"data\"\n");
        if use_shared_cache {
            full.push_str(&format!("cache-dir = \"{}\"\n", shared_cache().display()));
        }
        full.push_str(config);
        std::fs::write(dir.path().join("printfarm.toml"), full).unwrap();
        let stderr_path = dir.path().join("server.log");
        let child = Command::new(binary())
            .args(["serve", "--config"])
            .arg(dir.path().join("printfarm.toml"))
            .env("PRINTFARM_PLUGINS", shipped_plugins())
            .env("RUST_LOG", "info")
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .expect("starting printfarm");
        let mut server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            port,
            dir,
            admin_key: String::new(),
            stderr_path,
        };
        server.wait_ready()?;
        server.admin_key = server.first_admin_key();
        Ok(server)
    }

    /// Runs the server with `config`, expecting it to refuse to start.
    pub fn refuse(config: &str) -> Refusal {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let full = format!("listen = \"127.0.0.1:{port}\"\ndata-dir = \"data\"\n{config}");
        std::fs::write(dir.path().join("printfarm.toml"), full).unwrap();
        let out = Command::new(binary())
            .args(["serve", "--config"])
            .arg(dir.path().join("printfarm.toml"))
            .env("PRINTFARM_PLUGINS", shipped_plugins())
            .current_dir(dir.path())
            .output()
            .expect("running printfarm");
        assert!(
            !out.status.success(),
            "the server was expected to refuse this config:\n{config}"
        );
        Refusal {
            code: out.status.code(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            dir,
        }
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if self.child.try_wait().unwrap().is_some() {
                return Err(self.log());
            }
            // Ready once every listener is bound: the log says so after the last bind.
            if self.log().contains("printfarm is ready")
                && std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            {
                return Ok(());
            }
            assert!(
                Instant::now() < deadline,
                "printfarm did not start within 120 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.stderr_path) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// The first-start admin key: from this run's log, or kept from an earlier run in the same
    /// scratch directory.
    fn first_admin_key(&self) -> String {
        let kept = self.dir.path().join("admin-key");
        let log = self.log();
        match log.split("api_key=").nth(1) {
            Some(rest) => {
                let key: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .collect();
                std::fs::write(&kept, &key).unwrap();
                key
            }
            None => std::fs::read_to_string(&kept).unwrap_or_default(),
        }
    }

    /// An HTTP client that sends the admin key with every request.
    pub fn client(&self) -> reqwest::Client {
        client_with_key(&self.admin_key)
    }

    /// Sends a request with the admin key (and a JSON body, if given); returns the status and the
    /// JSON answer (`Null` when the body is empty or not JSON).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request = self.client().request(method, self.url(path));
        if let Some(b) = body {
            request = request.json(&b);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    /// `GET path` with the admin key, which must answer 200; returns the JSON.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let (status, v) = self.call(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {v}");
        v
    }

    /// Uploads `text` to the library as `name` through the host API, which must answer 201;
    /// returns the stored file.
    pub async fn upload_gcode(&self, name: &str, text: String) -> serde_json::Value {
        self.upload_gcode_at(None, name, text).await
    }

    /// Uploads G-code `text` as a file named `name` to the library through the host API, at
    /// `path` when given (the form's `path` field: a file path, or a folder ending in `/`),
    /// which must answer 201; returns the stored file.
    pub async fn upload_gcode_at(
        &self,
        path: Option<&str>,
        name: &str,
        text: String,
    ) -> serde_json::Value {
        let (status, body) = self.upload(path, name, text.into_bytes()).await;
        assert_eq!(status, 201, "upload of {name}: {body}");
        body
    }

    /// Uploads `bytes` as a file named `name` to the library through the host API (`POST
    /// /farm/api/files`), at `path` when given; returns the status and the JSON body (`null`
    /// when the body is not JSON), whatever they are.
    pub async fn upload(
        &self,
        path: Option<&str>,
        name: &str,
        bytes: Vec<u8>,
    ) -> (u16, serde_json::Value) {
        let mut form = reqwest::multipart::Form::new();
        if let Some(path) = path {
            form = form.text("path", path.to_string());
        }
        let form = form.part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
        );
        let response = self
            .client()
            .post(self.url("/farm/api/files"))
            .multipart(form)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    /// Creates a farm user with `role` (`admin`, `operator`, `viewer`) through the host API and
    /// returns their first API key.
    pub async fn create_user_key(&self, name: &str, role: &str) -> String {
        let (status, body, _) = send(
            self.client()
                .post(self.url("/farm/api/users"))
                .json(&serde_json::json!({"name": name, "role": role, "password": "long enough"})),
        )
        .await;
        assert_eq!(status, 201, "creating user {name}: {body}");
        body["api_key"]
            .as_str()
            .expect("the new user's API key")
            .to_string()
    }

    /// Sends G-code lines to `printer` through the host API, which must accept them.
    pub async fn send_gcode(&self, printer: &str, commands: &[&str]) {
        let path = format!("/farm/api/printers/{printer}/commands");
        let body = serde_json::json!({ "commands": commands });
        let (status, answer) = self.call(reqwest::Method::POST, &path, Some(body)).await;
        assert!(
            status < 300,
            "sending {commands:?} to {printer}: {status} {answer}"
        );
    }

    /// Queues one copy of library file `file` on `printer` through the host API, which must
    /// answer 201; returns the job.
    pub async fn queue_on(&self, file: &str, printer: &str) -> serde_json::Value {
        let job =
            serde_json::json!({"file": file, "copies": 1, "placement": {"printers": [printer]}});
        let (status, body) = self
            .call(reqwest::Method::POST, "/farm/api/jobs", Some(job))
            .await;
        assert_eq!(status, 201, "{body}");
        body
    }

    /// Kills the server with SIGKILL (no shutdown at all) and returns its scratch directory.
    pub fn kill9(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }

    /// A URL on the main listener.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Peak resident memory of the server so far, in KiB (VmHWM).
    pub fn peak_rss_kib(&self) -> u64 {
        proc_status_kib(self.pid(), "VmHWM:")
    }

    /// User plus system CPU seconds the server has used so far, from `/proc/PID/stat` (clock
    /// ticks of 10 ms: measure over tens of seconds).
    pub fn cpu_secs(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))
            .expect("the server's /proc/PID/stat");
        // Fields after the command name, which is in parentheses and may hold spaces; utime and
        // stime are fields 14 and 15 of the line, 12 and 13 after the name.
        let fields: Vec<&str> = stat[stat.rfind(')').expect("a stat line") + 2..]
            .split(' ')
            .collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        ticks as f64 / 100.0
    }

    /// Current resident memory of the server, in KiB (VmRSS).
    pub fn rss_kib(&self) -> u64 {
        proc_status_kib(self.pid(), "VmRSS:")
    }

    /// Stops the server (SIGTERM, then kill) and returns its scratch directory for a restart.
    pub fn stop(mut self) -> tempfile::TempDir {
        self.terminate();
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }

    fn terminate(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.terminate();
    }
}

fn proc_status_kib(pid: u32, key: &str) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("reading /proc status");
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .expect("VmHWM/VmRSS in /proc status")
}

/// Polls `check` every 100 ms until it returns a value, failing the test after `secs` seconds
/// with `what` in the message.
pub async fn wait_for<T>(what: &str, secs: u64, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An HTTP client that sends `key` as `X-Api-Key` with every request.
pub fn client_with_key(key: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "x-api-key",
        reqwest::header::HeaderValue::from_str(key).unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

/// Config that adds the packages in `dir` and enables plugin `id` with the lines of `table`
/// (its `[plugins.<id>]` keys; further tables may follow).
pub fn plugin_dir_config(dir: &Path, id: &str, table: &str) -> String {
    format!(
        "plugin-dirs = [\"{}\"]\n[plugins.{id}]\n{table}",
        dir.display()
    )
}

/// The test plugins enabled with all their declared capabilities granted.
pub fn misbehave_config(extra: &str) -> String {
    plugin_dir_config(
        &test_plugins(),
        "misbehave",
        &format!(
            "grants = [\"kv\", \"printers.read\", \"outbound-http\", \"outbound-ws\"]\n{extra}"
        ),
    )
}

/// One virtual printer `v1` that prints instantly (`virtual-speed = 0`): the printer most tests
/// need, as a config fragment.
pub const ONE_PRINTER: &str = r#"
[[printers]]
id = "v1"
port = "virtual"
virtual-speed = 0
"#;

/// `count` virtual printers `v1`, `v2`, … at `speed` (0 = instant, 1 = real time), as a config
/// fragment.
pub fn virtual_printers(count: usize, speed: u32) -> String {
    (1..=count)
        .map(|i| {
            format!("[[printers]]\nid = \"v{i}\"\nport = \"virtual\"\nvirtual-speed = {speed}\n\n")
        })
        .collect()
}

/// A small G-code file the library accepts (a PrusaSlicer header): `moves` moves of 20 mm at
/// 1200 mm/min, one second each in real time (`virtual-speed = 1`).
pub fn gcode(moves: usize) -> String {
    let mut s =
        String::from("; generated by PrusaSlicer 2.7.1 on 2026-01-01\nG28\nG1 Z0.2 F3000\n");
    for i in 0..moves {
        let x = if i % 2 == 0 { 30 } else { 10 };
        s.push_str(&format!("G1 X{x} Y10 E{:.1} F1200\n", i as f64 * 0.5 + 0.5));
    }
    s
}

/// Sends a request and returns its status, body and headers, so a test can assert on all three
/// without repeating the plumbing. The body is `Null` when empty, the JSON when it parses, and
/// `{"raw": text}` otherwise (so a non-JSON answer still shows in failure messages).
pub async fn send(
    request: reqwest::RequestBuilder,
) -> (u16, serde_json::Value, reqwest::header::HeaderMap) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| serde_json::json!({ "raw": text }))
    };
    (status, body, headers)
}

/// Waits (up to 60 s) until the host API reports printer `id` in `state` (`operational`,
/// `printing`, …), which tests need before sending jobs; returns the printer as last seen.
pub async fn wait_state(server: &Server, id: &str, state: &str) -> serde_json::Value {
    wait_for(&format!("{id} {state}"), 60, async || {
        let p = server.get_json(&format!("/farm/api/printers/{id}")).await;
        (p["state"] == state).then_some(p)
    })
    .await
}

/// Writes a G-code file of about `mb` MiB (a slicer header, then distinct `G1` moves) for the
/// upload benchmarks; returns its size in bytes. Written through a buffer, so memory stays flat.
pub fn write_gcode_file(path: &Path, mb: u64) -> anyhow::Result<u64> {
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    writeln!(f, "; generated by PrusaSlicer 2.7.1\nG28")?;
    let mut written = 0u64;
    let mut i = 0u64;
    while written < mb << 20 {
        let line = format!(
            "G1 X{}.{} Y{}.{} E{}.{:03} F1800\n",
            i % 200,
            i % 10,
            (i / 7) % 200,
            i % 9,
            i / 1000,
            i % 1000
        );
        f.write_all(line.as_bytes())?;
        written += line.len() as u64;
        i += 1;
    }
    f.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

/// Uploads the file at `path` with the admin key as the multipart `file` part of a `POST` to
/// `url`, streamed from disk in 256 KiB chunks (so the client's memory does not grow with the
/// file), and fails unless the server answers 201.
pub async fn upload_streamed(server: &Server, url: &str, path: &Path) -> anyhow::Result<()> {
    let size = std::fs::metadata(path)?.len();
    let file = tokio::fs::File::open(path).await?;
    let chunks = futures::stream::try_unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut chunk = Vec::with_capacity(256 << 10);
        let n = (&mut file).take(256 << 10).read_to_end(&mut chunk).await?;
        std::io::Result::Ok((n > 0).then_some((chunk, file)))
    });
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let part =
        reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(chunks), size)
            .file_name(name)
            .mime_str("application/octet-stream")?;
    let form = reqwest::multipart::Form::new().part("file", part);
    let r = server.client().post(url).multipart(form).send().await?;
    let status = r.status();
    let text = r.text().await?;
    anyhow::ensure!(status == 201, "upload refused: {status} {text}");
    Ok(())
}
