//! End-to-end tests of the plugin host: the real binary, real components built from the plugins in
//! this repository, real HTTP over a socket. Each case has its failing twin next to it.

use std::time::{Duration, Instant};

use printfarm_e2e::*;
use serde_json::{json, Value};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

async fn get_json(url: &str) -> (u16, Value) {
    let r = client().get(url).send().await.unwrap();
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|_| json!({ "raw": body })),
    )
}

async fn plugin_view(server: &Server, id: &str) -> Value {
    let r = server
        .client()
        .get(server.url(&format!("/farm/api/plugins/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test]
async fn embedded_defaults_serve_every_shipped_plugin() {
    // No config file at all: `printfarm serve --data-dir … --listen …` in an empty directory.
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // An admin made with the CLI before the first start: its key is the one line on stdout.
    let added = std::process::Command::new(binary())
        .args([
            "user",
            "add",
            "ops",
            "--role",
            "admin",
            "--data-dir",
            "data",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let key = String::from_utf8(added.stdout).unwrap().trim().to_string();
    assert_eq!(key.len(), 32, "{key:?}");
    let mut child = std::process::Command::new(binary())
        .args([
            "serve",
            "--data-dir",
            "data",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("PRINTFARM_PLUGINS", shipped_plugins())
        .current_dir(dir.path())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(120);
    while client()
        .get(format!("{base}/farm/health"))
        .send()
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "server did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let unauthenticated = client()
        .get(format!("{base}/farm/api/plugins"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let r = client_with_key(&key)
        .get(format!("{base}/farm/api/plugins"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let plugins: Value = r.json().await.unwrap();
    let shipped: Vec<String> = std::fs::read_dir(shipped_plugins())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!shipped.is_empty());
    for id in &shipped {
        let p = plugins
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == *id)
            .unwrap_or_else(|| panic!("{id} not loaded: {plugins}"));
        assert_eq!(p["state"], "enabled", "{p}");
    }
    let (status, body) = get_json(&format!("{base}/hello/greet/Ada")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["greeting"], "Hello, Ada!");
    assert_eq!(body["visits"], 1);
    let (_, body) = get_json(&format!("{base}/hello/greet/Ada")).await;
    assert_eq!(
        body["visits"], 2,
        "visits are counted in the plugin's kv store"
    );
    let (status, _) = get_json(&format!("{base}/nothing/here")).await;
    assert_eq!(status, 404);
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn plugin_config_reaches_the_plugin_and_bad_config_is_refused_with_its_path() {
    let server = Server::start("[plugins.hello.config]\ngreeting = \"Ahoy\"\n");
    let (status, body) = get_json(&server.url("/hello/greet/Bo")).await;
    assert_eq!(
        (status, body["greeting"].as_str()),
        (200, Some("Ahoy, Bo!"))
    );
    drop(server);

    let refusal = Server::refuse(&misbehave_config(
        "[plugins.misbehave.config]\nlabel = \"ok\"\nretries = 11\n",
    ));
    assert!(
        refusal.stderr.contains("misbehave") && refusal.stderr.contains("/retries"),
        "{}",
        refusal.stderr
    );
    let refusal = Server::refuse(&misbehave_config(
        "[plugins.misbehave.config]\nlabel = \"x\"\ncolour = 1\n",
    ));
    assert!(refusal.stderr.contains("colour"), "{}", refusal.stderr);
}

#[tokio::test]
async fn incompatible_api_version_is_refused_before_compiling() {
    let dir = package_variant(&shipped_plugins().join("hello"), "hello-next", |m| {
        m.replace("api = \"^0.1\"", "api = \"^0.2\"")
            .replace("mount = \"/hello\"", "mount = \"/hello-next\"")
    });
    let pkg = dir.path().join("hello-next");
    let config = plugin_dir_config(dir.path(), "hello-next", "grants = [\"kv\"]\n");
    let refusal = Server::refuse(&config);
    assert!(
        refusal.stderr.contains("^0.2") && refusal.stderr.contains("0.1.0"),
        "{}",
        refusal.stderr
    );
    assert!(refusal.stderr.contains("hello-next"), "{}", refusal.stderr);
    assert_eq!(refusal.code, Some(1));
    // Refused before anything was compiled: no component of this run reached the cache.
    assert_eq!(
        refusal.data_files_ending_with(".cwasm"),
        Vec::<std::path::PathBuf>::new()
    );

    // The compatible original still loads from the same kind of package.
    edit_manifest(&pkg, |m| m.replace("api = \"^0.2\"", "api = \"^0.1\""));
    let server = Server::start(&config);
    let (status, _) = get_json(&server.url("/hello-next/health")).await;
    assert_eq!(status, 200, "{}", server.log());
}

/// A component built from the frozen 0.1.0 WIT with wit-bindgen alone (no SDK) loads and serves
/// on this host, which implements 0.1.2 (0.1.0 plus `host-info`, then `camera` and more): its
/// routes answer and its host calls reach the 0.1.2 implementations. A requirement on a contract the host does not serve
/// names both sides.
#[tokio::test]
async fn a_plugin_built_for_contract_0_1_0_keeps_working() {
    let config = plugin_dir_config(&test_plugins(), "legacy", "grants = [\"kv\"]\n");
    let server = Server::start(&config);
    let r = client()
        .get(server.url("/legacy/hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", server.log());
    assert_eq!(
        r.text().await.unwrap(),
        "built against printfarm:plugin@0.1.0"
    );
    let r = client()
        .put(server.url("/legacy/kv/colour"))
        .body("teal")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "{}", server.log());
    let r = client()
        .get(server.url("/legacy/kv/colour"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "teal");
    let (status, health) = get_json(&server.url("/farm/health")).await;
    assert_eq!(status, 200);
    assert_eq!(health["api"], "0.1.2", "{health}");

    let dir = package_variant(&test_plugins().join("legacy"), "legacy-next", |m| {
        m.replace("api = \"=0.1.0\"", "api = \"^1.0\"")
            .replace("mount = \"/legacy\"", "mount = \"/legacy-next\"")
    });
    let refusal = Server::refuse(&plugin_dir_config(
        dir.path(),
        "legacy-next",
        "grants = [\"kv\"]\n",
    ));
    assert!(
        refusal.stderr.contains("^1.0")
            && refusal.stderr.contains("0.1.0 to 0.1.2")
            && refusal.stderr.contains("legacy-next"),
        "{}",
        refusal.stderr
    );
}

/// `serialize-changes = true`: concurrent changing calls run one at a time, so a plugin's
/// read-modify-write of kv loses nothing; without it the same calls overlap and lose updates.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn serialize_changes_runs_changing_calls_one_at_a_time() {
    async fn counted(server: &Server, calls: usize) -> i64 {
        let client = reqwest::Client::new();
        let url = server.url("/misbehave/count/c");
        let sends = (0..calls).map(|_| {
            let (client, url) = (client.clone(), url.clone());
            async move { client.post(url).send().await.unwrap().status().as_u16() }
        });
        let statuses = futures::future::join_all(sends).await;
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
        let (_, v) = get_json(&server.url("/misbehave/kv/c")).await;
        v["value"]
            .as_str()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("counter: {v}"))
    }
    let pkg = package_variant(&test_plugins().join("misbehave"), "misbehave", |m| {
        m.replace(
            "per-printer = false",
            "per-printer = false\nserialize-changes = true",
        )
    });
    let serialized = Server::start(&plugin_dir_config(
        pkg.path(),
        "misbehave",
        "grants = [\"kv\"]\n",
    ));
    assert_eq!(counted(&serialized, 24).await, 24, "{}", serialized.log());

    let free = Server::start(&misbehave_config(""));
    let lost = counted(&free, 24).await;
    assert!(lost < 24, "without serialize-changes the calls overlap (this proves the test can see a lost update): {lost}");
}

/// `host-info` (since 0.1.1) tells a plugin which host serves it.
#[tokio::test]
async fn host_info_names_the_host() {
    let server = Server::start(&misbehave_config(""));
    let (status, info) = get_json(&server.url("/misbehave/host")).await;
    assert_eq!(status, 200, "{}", server.log());
    assert_eq!(info["api"], "0.1.2", "{info}");
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"), "{info}");
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(info["node"], hostname.trim(), "{info}");
}

#[tokio::test]
async fn unknown_manifest_keys_are_refused() {
    let dir = package_variant(&shipped_plugins().join("hello"), "hello-typo", |m| {
        m.replace(
            "id = \"hello-typo\"",
            "id = \"hello-typo\"\ncolour = \"red\"",
        )
    });
    let config = plugin_dir_config(dir.path(), "hello-typo", "mount = \"/typo\"\n");
    let refusal = Server::refuse(&config);
    assert!(
        refusal.stderr.contains("colour") && refusal.stderr.contains("plugin.toml"),
        "{}",
        refusal.stderr
    );
}

#[tokio::test]
async fn route_conflicts_are_refused_naming_both_plugins() {
    let dir = package_variant(&shipped_plugins().join("hello"), "hello-twin", |m| m);
    let config = plugin_dir_config(dir.path(), "hello-twin", "grants = [\"kv\"]\n");
    let refusal = Server::refuse(&config);
    assert!(
        refusal.stderr.contains("`hello`")
            && refusal.stderr.contains("`hello-twin`")
            && refusal.stderr.contains("/hello/"),
        "{}",
        refusal.stderr
    );
    // With a mount of its own the twin is welcome.
    let server = Server::start(&format!("{config}mount = \"/twin\"\n"));
    let (status, body) = get_json(&server.url("/twin/greet/x")).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn capability_errors_reach_the_plugin_without_crashing_it() {
    // printers.read is declared but not granted; jobs is not even declared.
    let config = plugin_dir_config(&test_plugins(), "misbehave", "grants = [\"kv\"]\n");
    let server = Server::start(&config);
    let (status, body) = get_json(&server.url("/misbehave/denied/printers")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["error_kind"], "denied");
    let msg = body["message"].as_str().unwrap();
    assert!(
        msg.contains("printers.read") && msg.contains("not granted"),
        "{msg}"
    );
    let (_, body) = get_json(&server.url("/misbehave/denied/jobs")).await;
    assert_eq!(body["error_kind"], "denied");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("does not declare"),
        "{body}"
    );
    // The granted one works.
    let (_, body) = get_json(&server.url("/misbehave/denied/kv")).await;
    assert_eq!(body["ok"], true, "{body}");
    let v = plugin_view(&server, "misbehave").await;
    assert_eq!(
        (v["state"].as_str(), v["failures"].as_u64()),
        (Some("enabled"), Some(0)),
        "{v}"
    );
}

#[tokio::test]
async fn an_infinite_loop_answers_within_its_deadline_while_others_serve() {
    let server = Server::start(&misbehave_config(""));
    let looping = {
        let url = server.url("/misbehave/loop");
        tokio::spawn(async move {
            let started = Instant::now();
            let r = client().get(url).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap(), started.elapsed())
        })
    };
    // While the loop spins, the other plugin keeps answering.
    let mut served = 0;
    while !looping.is_finished() {
        let (status, _) = get_json(&server.url("/hello/health")).await;
        assert_eq!(status, 200);
        served += 1;
    }
    let (status, body, elapsed) = looping.await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        (body["plugin"].as_str(), body["kind"].as_str()),
        (Some("misbehave"), Some("timeout"))
    );
    // deadline-ms = 1000 in the test plugin's manifest.
    assert!(elapsed < Duration::from_millis(2000), "took {elapsed:?}");
    assert!(elapsed >= Duration::from_millis(1000), "took {elapsed:?}");
    assert!(served > 0);
    let (status, _) = get_json(&server.url("/misbehave/ok")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_memory_bomb_is_stopped_by_the_limit() {
    let server = Server::start(&misbehave_config(""));
    let (status, body) = get_json(&server.url("/misbehave/bomb")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["kind"], "memory-limit", "{body}");
    assert!(body["error"].as_str().unwrap().contains("32 MiB"), "{body}");
    let (status, _) = get_json(&server.url("/misbehave/ok")).await;
    assert_eq!(status, 200);
    // The host did not grow by the bomb: the guest was capped at 32 MiB.
    assert!(
        server.rss_kib() < 512 * 1024,
        "server RSS {} KiB",
        server.rss_kib()
    );
}

#[tokio::test]
async fn a_panic_answers_500_and_repeated_failures_disable_the_plugin() {
    let server = Server::start(&misbehave_config(""));
    let (status, body) = get_json(&server.url("/misbehave/panic")).await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(
        (body["plugin"].as_str(), body["kind"].as_str()),
        (Some("misbehave"), Some("trap"))
    );
    let (status, body) = get_json(&server.url("/misbehave/ok")).await;
    assert_eq!(status, 200, "the next request succeeds: {body}");
    assert!(
        server.log().contains("deliberate panic"),
        "the panic message is logged"
    );

    // failures-before-disable = 3
    for _ in 0..3 {
        let (status, _) = get_json(&server.url("/misbehave/panic")).await;
        assert_eq!(status, 500);
    }
    let (status, body) = get_json(&server.url("/misbehave/ok")).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (503, Some("disabled")),
        "{body}"
    );
    let v = plugin_view(&server, "misbehave").await;
    assert_eq!(v["state"], "disabled");
    assert!(
        v["reason"].as_str().unwrap().contains("3 consecutive"),
        "{v}"
    );
    let (status, _) = get_json(&server.url("/hello/health")).await;
    assert_eq!(status, 200, "other plugins keep serving");
}

#[tokio::test]
async fn what_a_plugin_prints_reaches_the_host_log_line_by_line() {
    let server = Server::start(&misbehave_config(""));
    let status = client()
        .get(server.url("/misbehave/print"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 204);
    // stdout at info, stderr at warn, each line tagged with the plugin; the line left open when
    // the call ended is written too.
    let expected = [
        ("INFO", "misbehave says hello on stdout"),
        ("WARN", "misbehave complains on stderr"),
        ("WARN", "misbehave trails off"),
    ];
    let mut log = String::new();
    for _ in 0..50 {
        log = server.log();
        if expected.iter().all(|(_, text)| log.contains(text)) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    for (level, text) in expected {
        let line = log
            .lines()
            .find(|line| line.contains(text))
            .unwrap_or_else(|| panic!("`{text}` is not in the log:\n{log}"));
        assert!(
            line.contains(level) && line.contains("plugin=\"misbehave\""),
            "{line}"
        );
    }
}

#[tokio::test]
async fn init_can_refuse_its_config_and_the_reason_is_visible() {
    let server = Server::start(&misbehave_config(
        "[plugins.misbehave.config]\nlabel = \"reject\"\n",
    ));
    let v = plugin_view(&server, "misbehave").await;
    assert_eq!(v["state"], "disabled");
    assert!(v["reason"].as_str().unwrap().contains("reject"), "{v}");
    let (status, _) = get_json(&server.url("/misbehave/ok")).await;
    assert_eq!(status, 503);
}

#[tokio::test]
async fn kv_values_are_capped_and_bodies_are_limited() {
    let server = Server::start(&misbehave_config(""));
    let c = client();
    let r = c
        .put(server.url("/misbehave/kv/small"))
        .body("tiny")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (_, body) = get_json(&server.url("/misbehave/kv/small")).await;
    assert_eq!(body["value"], "tiny");
    // max-kv-value-bytes = 1024
    let r = c
        .put(server.url("/misbehave/kv/big"))
        .body(vec![b'x'; 2048])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413, "{}", r.text().await.unwrap());
    let (_, body) = get_json(&server.url("/misbehave/kv/big")).await;
    assert_eq!(body["value"], Value::Null);
    // A non-multipart body over max-body-bytes (default 1 MiB) is refused before the plugin runs.
    let r = c
        .put(server.url("/misbehave/kv/huge"))
        .body(vec![b'x'; 2 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    // 405 names the allowed methods.
    let r = c.delete(server.url("/misbehave/ok")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert!(r.headers()["allow"].to_str().unwrap().contains("GET"));
}

#[tokio::test]
async fn outbound_http_reaches_allowed_hosts_only() {
    // The test plugin may reach http://127.0.0.1:18999 only.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:18999")
        .await
        .unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await;
            let _ = sock
                .write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello",
                )
                .await;
        }
    });
    let server = Server::start(&misbehave_config(""));
    let c = client();
    let r: Value = c
        .post(server.url("/misbehave/fetch"))
        .json(&json!({"url": "http://127.0.0.1:18999/x"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (r["status"].as_u64(), r["body"].as_str()),
        (Some(200), Some("hello")),
        "{r}"
    );
    let r: Value = c
        .post(server.url("/misbehave/fetch"))
        .json(&json!({"url": format!("{}/farm/health", server.base)}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["error_kind"], "denied", "{r}");
    let origin = format!("http://127.0.0.1:{}", server.port);
    assert!(
        r["message"].as_str().unwrap().starts_with(&format!(
            "outbound origin {origin} is not granted to plugin misbehave: add \"{origin}\" to \
             outbound-hosts under [plugins.misbehave] in printfarm.toml"
        )),
        "{r}"
    );
}

#[tokio::test]
async fn push_sockets_open_echo_and_close() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let server = Server::start(&misbehave_config(""));
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/misbehave/ws", server.port))
            .await
            .unwrap();
    let hello = ws.next().await.unwrap().unwrap();
    let hello: Value = serde_json::from_str(hello.to_text().unwrap()).unwrap();
    assert!(hello["hello"].as_u64().is_some(), "{hello}");
    ws.send(Message::text("hi")).await.unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap().to_text().unwrap(),
        "echo:hi"
    );
    ws.send(Message::text("close")).await.unwrap();
    match ws.next().await.unwrap().unwrap() {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 4000),
        other => panic!("expected a close frame, got {other:?}"),
    }
    // The timer hook runs every 200 ms.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (_, ticks) = get_json(&server.url("/misbehave/ticks")).await;
    assert!(ticks.as_u64().unwrap_or(0) >= 2, "{ticks}");
}

#[tokio::test]
async fn a_200_mb_upload_reaches_the_plugin_as_a_handle_with_flat_host_memory() {
    let server = Server::start(&misbehave_config(""));
    // Warm up: one small upload so lazily allocated buffers are counted before the baseline.
    let form = reqwest::multipart::Form::new().text("path", "warm").part(
        "file",
        reqwest::multipart::Part::bytes(vec![1u8; 1024]).file_name("a.gcode"),
    );
    client()
        .post(server.url("/misbehave/upload"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let before = server.peak_rss_kib();

    const SIZE: u64 = 200 << 20;
    const CHUNK: usize = 256 << 10;
    let chunks = futures::stream::iter(
        (0..SIZE / CHUNK as u64).map(|i| Ok::<_, std::io::Error>(vec![(i % 251) as u8; CHUNK])),
    );
    let part =
        reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(chunks), SIZE)
            .file_name("big.gcode")
            .mime_str("text/x.gcode")
            .unwrap();
    // Fields around the file, in the order PrusaSlicer sends them.
    let form = reqwest::multipart::Form::new()
        .text("print", "true")
        .text("path", "parts")
        .part("file", part);
    let r = client()
        .post(server.url("/misbehave/upload"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let uploads = body["uploads"].as_array().unwrap();
    assert_eq!(uploads.len(), 1, "{body}");
    assert_eq!(uploads[0]["size"].as_u64(), Some(SIZE));
    assert_eq!(uploads[0]["filename"], "big.gcode");
    assert!(uploads[0]["handle"].as_u64().is_some());
    assert_eq!(body["form"], json!([["print", "true"], ["path", "parts"]]));

    let after = server.peak_rss_kib();
    let growth_mib = (after.saturating_sub(before)) / 1024;
    eprintln!(
        "peak RSS before {before} KiB, after {after} KiB: +{growth_mib} MiB for a 200 MiB upload"
    );
    assert!(
        growth_mib < 32,
        "host memory grew by {growth_mib} MiB during a 200 MiB upload"
    );
    // The staged file is gone once the request ended (the plugin did not store it).
    let staged: Vec<_> = std::fs::read_dir(server.data_dir().join("staging"))
        .unwrap()
        .collect();
    assert!(staged.is_empty(), "{staged:?}");
}

#[tokio::test]
async fn uploads_over_the_limit_are_refused() {
    let server = Server::start(&format!("upload-limit-mb = 1\n{}", misbehave_config("")));
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(vec![0u8; 2 << 20]).file_name("x.gcode"),
    );
    let r = client()
        .post(server.url("/misbehave/upload"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert!(r.text().await.unwrap().contains("upload-limit-mb"));
    let r = client()
        .post(server.url("/misbehave/upload"))
        .header("content-type", "multipart/form-data; boundary=zzz")
        .body("--zzz\r\nnot a part")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn precompiled_components_are_reused_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir, "", false);
    let v = plugin_view(&server, "hello").await;
    assert_eq!(
        v["compiled"], "compiled",
        "a fresh data directory compiles: {v}"
    );
    let cache = server.data_dir().join("cache").join("components");
    let entries = |dir: &std::path::Path| -> Vec<(std::path::PathBuf, std::time::SystemTime)> {
        let mut out = Vec::new();
        for engine_dir in std::fs::read_dir(dir).unwrap() {
            for f in std::fs::read_dir(engine_dir.unwrap().path()).unwrap() {
                let f = f.unwrap();
                out.push((f.path(), f.metadata().unwrap().modified().unwrap()));
            }
        }
        out.sort();
        out
    };
    let first = entries(&cache);
    assert!(!first.is_empty());
    let dir = server.stop();
    let server = Server::start_in(dir, "", false);
    let v = plugin_view(&server, "hello").await;
    assert_eq!(
        v["compiled"], "cache",
        "the restart must not recompile: {v}"
    );
    assert_eq!(entries(&cache), first, "cache entries were not rewritten");
    let (status, _) = get_json(&server.url("/hello/health")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_plugin_can_have_a_listener_of_its_own() {
    let port = std::cell::Cell::new(0u16);
    let server = Server::start_with(|| {
        port.set(free_port());
        format!("[plugins.hello]\nlisten = \"127.0.0.1:{}\"\n", port.get())
    });
    let port = port.get();
    let (status, body) = get_json(&format!("http://127.0.0.1:{port}/greet/Cy")).await;
    assert_eq!(
        (status, body["greeting"].as_str()),
        (200, Some("Hello, Cy!")),
        "{body}"
    );
    let (status, _) = get_json(&server.url("/hello/greet/Cy")).await;
    assert_eq!(
        status, 200,
        "a listener of its own comes in addition to the path mount"
    );
    let (status, _) = get_json(&format!("http://127.0.0.1:{port}/farm/health")).await;
    assert_eq!(status, 404, "host routes live on the main listener only");
}

/// The misbehave manifest made per-printer: `per-printer = true`, without its root route (a
/// per-printer plugin may have none).
fn per_printer_variant(manifest: String) -> String {
    let root_route = manifest
        .lines()
        .find(|line| line.starts_with("root-routes"))
        .expect("misbehave has a root route")
        .to_string();
    manifest
        .replace(&root_route, "")
        .replace("per-printer = false", "per-printer = true")
}

/// A root route is served at the host's root whatever the plugin's mount, with an empty mount
/// and the route as written; with a listener of its own, on both.
#[tokio::test]
async fn root_routes_are_served_at_the_root_whatever_the_mount() {
    let server = Server::start(&misbehave_config("mount = \"/elsewhere\"\n"));
    let (status, body) = get_json(&server.url("/plugin/misbehave/whoami")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"printer": null, "mount": "", "route": "/plugin/misbehave/whoami"})
    );
    let (status, body) = get_json(&server.url("/elsewhere/whoami")).await;
    assert_eq!(
        (status, &body["mount"]),
        (200, &json!("/elsewhere")),
        "{body}"
    );
    let (status, _) = get_json(&server.url("/elsewhere/plugin/misbehave/whoami")).await;
    assert_eq!(status, 404, "a root route is not under the mount");
    drop(server);

    let port = std::cell::Cell::new(0u16);
    let server = Server::start_with(|| {
        port.set(free_port());
        misbehave_config(&format!("listen = \"127.0.0.1:{}\"\n", port.get()))
    });
    for base in [server.url(""), format!("http://127.0.0.1:{}", port.get())] {
        let (status, body) = get_json(&format!("{base}/plugin/misbehave/whoami")).await;
        assert_eq!(
            (status, &body["mount"]),
            (200, &json!("")),
            "{base}: {body}"
        );
    }
}

#[tokio::test]
async fn per_printer_mounts_serve_each_printer_on_a_path_and_a_port() {
    let dir = package_variant(&test_plugins().join("misbehave"), "misbehave-pp", |m| {
        per_printer_variant(m).replace("mount = \"/misbehave\"", "mount = \"/pp/{printer}\"")
    });
    let first = std::cell::Cell::new(0u16);
    let server = Server::start_with(|| {
        first.set(free_port());
        plugin_dir_config(
            dir.path(),
            "misbehave-pp",
            &format!(
                "first-port = {}\n[[printers]]\nid = \"alpha\"\nport = \"virtual\"\n[[printers]]\nid = \"beta\"\nport = \"virtual\"\n",
                first.get()
            ),
        )
    });
    let first = first.get();
    for (k, printer) in ["alpha", "beta"].iter().enumerate() {
        let (status, body) = get_json(&server.url(&format!("/pp/{printer}/whoami"))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["printer"], *printer);
        assert_eq!(body["mount"], format!("/pp/{printer}"));
        let (status, body) =
            get_json(&format!("http://127.0.0.1:{}/whoami", first + k as u16)).await;
        assert_eq!(
            (status, body["printer"].as_str()),
            (200, Some(*printer)),
            "{body}"
        );
        assert_eq!(body["mount"], "");
    }
    let (status, _) = get_json(&server.url("/pp/gamma/whoami")).await;
    assert_eq!(status, 404);
    // Double slashes are tolerated (Home Assistant sends them).
    let (status, _) = get_json(&server.url("//pp/alpha//whoami")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_host_prefix_is_reserved() {
    let refusal = Server::refuse("[plugins.hello]\nmount = \"/farm/hello\"\n");
    assert!(refusal.stderr.contains("reserved"), "{}", refusal.stderr);
    let refusal = Server::refuse("[plugins.hello]\nenabeld = false\n");
    assert!(
        refusal.stderr.contains("enabeld") && refusal.stderr.contains("printfarm.toml"),
        "{}",
        refusal.stderr
    );
}

/// `printfarm plugin check DIR`.
fn plugin_check(dir: &std::path::Path) -> std::process::Output {
    std::process::Command::new(binary())
        .args(["plugin", "check"])
        .arg(dir)
        .output()
        .unwrap()
}

#[test]
fn plugin_check_validates_a_package_and_prints_its_mount() {
    let out = plugin_check(&shipped_plugins().join("hello"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("mount: /hello") && stdout.contains("/hello/greet/{name}"),
        "{stdout}"
    );
    assert!(stdout.contains("capabilities: kv"), "{stdout}");
    assert!(
        stdout.contains("instances: a fresh one for every call"),
        "{stdout}"
    );
    let out = plugin_check(&shipped_plugins().join("octoprint"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("instances: kept between calls, up to 1000 calls each"),
        "{stdout}"
    );

    let dir = tempfile::tempdir().unwrap();
    copy_package(&shipped_plugins().join("hello"), dir.path());
    std::fs::write(dir.path().join("hello.wasm"), b"\0asm\x0d\0\x01\0garbage").unwrap();
    let out = plugin_check(dir.path());
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("hello.wasm"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn outbound_websockets_deliver_frames_to_the_plugin() {
    use futures::{SinkExt, StreamExt};
    // An echo server on the allowed origin http://127.0.0.1:18998 (ws counts as http).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:18998")
        .await
        .unwrap();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut ws = tokio_tungstenite::accept_async(sock).await.unwrap();
                while let Some(Ok(msg)) = ws.next().await {
                    if msg.is_text() {
                        ws.send(tokio_tungstenite::tungstenite::Message::text(format!(
                            "pong to {}",
                            msg.to_text().unwrap()
                        )))
                        .await
                        .unwrap();
                        ws.close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
                            code: tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode::Normal,
                            reason: "done".into(),
                        }))
                        .await
                        .unwrap();
                    }
                }
            });
        }
    });
    let server = Server::start(&misbehave_config(""));
    let r: Value = client()
        .post(server.url("/misbehave/ws-connect"))
        .json(&json!({"url": "ws://127.0.0.1:18998/feed"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let socket = r["socket"].as_u64().unwrap_or_else(|| panic!("{r}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, log) = get_json(&server.url("/misbehave/socket-log")).await;
        let lines: Vec<String> = log
            .as_array()
            .map(|l| {
                l.iter()
                    .map(|v| v.as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default();
        if lines.len() >= 2 {
            assert_eq!(lines[0], format!("{socket}:pong to ping"));
            assert_eq!(lines[1], format!("{socket}:closed:1000"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no frames reached the plugin: {lines:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Not allow-listed: refused with the capability's error, inside the plugin.
    let r: Value = client()
        .post(server.url("/misbehave/ws-connect"))
        .json(&json!({"url": "ws://127.0.0.1:18997/feed"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["error_kind"], "denied", "{r}");
}

#[tokio::test]
async fn instances_are_reused_only_by_a_plugin_that_allows_it_and_never_after_a_failure() {
    // A per-printer variant that lets an instance serve 3 calls, with no timer and no events,
    // so that nothing but these requests uses its instances.
    let warm = package_variant(&test_plugins().join("misbehave"), "misbehave-warm", |m| {
        per_printer_variant(m)
            .replace("mount = \"/misbehave\"", "mount = \"/warm/{printer}\"")
            .replace("timer-interval-ms = 200", "timer-interval-ms = 0")
            .replace("events = [\"printer-state\", \"print\"]", "events = []")
            .replace(
                "failures-before-disable = 3",
                "failures-before-disable = 3\ncalls-per-instance = 3",
            )
    });
    let grants = "grants = [\"kv\", \"printers.read\", \"outbound-http\", \"outbound-ws\"]";
    let server = Server::start(&format!(
        "plugin-dirs = [\"{}\", \"{}\"]\n[plugins.misbehave]\n{grants}\n[plugins.misbehave-warm]\n{grants}\n\
         [[printers]]\nid = \"alpha\"\nport = \"virtual\"\n[[printers]]\nid = \"beta\"\nport = \"virtual\"\n",
        test_plugins().display(),
        warm.path().display()
    ));
    let calls = async |path: &str| {
        let (status, body) = get_json(&server.url(path)).await;
        assert_eq!(status, 200, "{path}: {body}");
        (body["calls"].as_u64().unwrap(), body["printer"].clone())
    };

    // The default: every call in a fresh instance.
    for _ in 0..3 {
        assert_eq!(calls("/misbehave/instance-calls").await.0, 1);
    }

    // Calls in turn share an instance, each with its own context (its printer), up to 3 calls.
    assert_eq!(
        calls("/warm/alpha/instance-calls").await,
        (1, json!("alpha"))
    );
    assert_eq!(calls("/warm/beta/instance-calls").await, (2, json!("beta")));
    assert_eq!(
        calls("/warm/alpha/instance-calls").await,
        (3, json!("alpha"))
    );
    assert_eq!(
        calls("/warm/alpha/instance-calls").await.0,
        1,
        "a fourth call gets a fresh instance"
    );
    assert_eq!(calls("/warm/alpha/instance-calls").await.0, 2);

    // A trap discards the instance: the next call starts afresh.
    let (status, _) = get_json(&server.url("/warm/alpha/panic")).await;
    assert_eq!(status, 500);
    assert_eq!(calls("/warm/alpha/instance-calls").await.0, 1);

    // An upload's staged file is deleted when its call ends, not when the kept instance is next
    // used.
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(vec![1u8; 1024]).file_name("a.gcode"),
    );
    let r = client()
        .post(server.url("/warm/beta/upload"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let staged: Vec<_> = std::fs::read_dir(server.data_dir().join("staging"))
        .unwrap()
        .collect();
    assert!(staged.is_empty(), "{staged:?}");
    assert_eq!(
        calls("/warm/beta/instance-calls").await.0,
        2,
        "the upload's instance was kept"
    );
}
