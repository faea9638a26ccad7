//! The dashboard in a real headless Chromium (Debian's, driven by Playwright from
//! `tests/browser/dashboard.py`; `scripts/browser-venv` installs both) against the real binary
//! with virtual printers. A failing scenario leaves a screenshot in `target/browser-screenshots`.

use std::path::PathBuf;
use std::process::Command;

use printfarm_e2e::*;

fn screenshots() -> PathBuf {
    target_dir().join("browser-screenshots")
}

/// Runs one scenario of the browser script as `user` (password "long enough").
async fn scenario(server: &Server, name: &str, user: &str, key: &str) {
    let python = target_dir().join("browser-venv/bin/python");
    assert!(
        python.exists(),
        "the browser tests need scripts/browser-venv (Chromium and Playwright); scripts/test runs it"
    );
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser/dashboard.py");
    let base = server.url("").trim_end_matches('/').to_string();
    let (name, user, key) = (name.to_string(), user.to_string(), key.to_string());
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .args([&name, &base, &user, "long enough", &key])
            .arg(screenshots())
            .output()
            .expect("running the browser script")
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "browser scenario failed (screenshot in {}):\n{}\n{}\nserver log:\n{}",
        screenshots().display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_served_by_the_host_with_its_own_assets_only() {
    let server = Server::start(ONE_PRINTER);
    let (status, _, headers) = send(reqwest::Client::new().get(server.url("/"))).await;
    assert_eq!(status, 200);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    for (path, kind) in [
        ("/dashboard/app.js", "text/javascript"),
        ("/dashboard/app.css", "text/css"),
    ] {
        let (status, _, headers) = send(reqwest::Client::new().get(server.url(path))).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            headers["content-type"].to_str().unwrap().starts_with(kind),
            "{path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_in_with_a_wrong_then_the_right_password_and_log_out() {
    let server = Server::start(&virtual_printers(2, 0));
    let key = server.create_user_key("olga", "operator").await;
    scenario(&server, "login", "olga", &key).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_farm_view_follows_a_print_live_and_its_tile_pauses_resumes_and_cancels() {
    let server = Server::start(&virtual_printers(2, 1));
    server.upload_gcode("a.gcode", gcode(60)).await;
    let key = server.create_user_key("olga", "operator").await;
    scenario(&server, "live", "olga", &key).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_sees_no_controls() {
    let server = Server::start(&virtual_printers(2, 0));
    let key = server.create_user_key("vic", "viewer").await;
    scenario(&server, "viewer", "vic", &key).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_files_dropped_three_copies_queued_printed_and_the_bed_cleared_each_time() {
    let server = Server::start(
        "[[printers]]\nid = \"v1\"\nport = \"virtual\"\nvirtual-speed = 0\nself-clearing = false\n",
    );
    let key = server.create_user_key("olga", "operator").await;
    scenario(&server, "library", "olga", &key).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_key_request_is_approved_on_the_page_and_the_client_collects_its_key() {
    let server = Server::start(ONE_PRINTER);
    let key = server.create_user_key("ada", "admin").await;
    scenario(&server, "appkey", "ada", &key).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_print_after_a_kill_9_is_shown_and_retried_from_the_page() {
    let config = "[[printers]]\nid = \"v1\"\nport = \"virtual\"\nvirtual-speed = 1\n";
    let server = Server::start(config);
    wait_state(&server, "v1", "operational").await;
    let key = server.create_user_key("olga", "operator").await;
    server.upload_gcode("long.gcode", gcode(300)).await;
    let job = server.queue_on("long.gcode", "v1").await;
    let task = format!("/farm/api/tasks/{}", job["tasks"][0]["id"]);
    wait_for("progress recorded", 60, async || {
        let t = server.get_json(&task).await;
        (t["last_line"].as_u64().unwrap_or(0) >= 4).then_some(())
    })
    .await;
    let server = Server::start_in(server.kill9(), config, true);
    scenario(&server, "interrupted", "olga", &key).await;
    let retried = server.get_json(&task).await;
    assert_ne!(retried["state"], "interrupted", "{retried}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_printers_page_charts_temperatures_sets_a_target_jogs_and_takes_commands() {
    let server = Server::start(&virtual_printers(1, 1));
    wait_state(&server, "v1", "operational").await;
    let key = server.create_user_key("olga", "operator").await;
    scenario(&server, "printer", "olga", &key).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_change_with_the_session_cookie_alone_is_refused() {
    let server = Server::start(&virtual_printers(1, 1));
    server.upload_gcode("a.gcode", gcode(120)).await;
    let key = server.create_user_key("olga", "operator").await;
    server.queue_on("a.gcode", "v1").await;
    scenario(&server, "csrf", "olga", &key).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_is_used_with_the_keyboard_alone() {
    let server = Server::start(&virtual_printers(2, 1));
    wait_state(&server, "v1", "operational").await;
    let key = server.create_user_key("olga", "operator").await;
    scenario(&server, "keyboard", "olga", &key).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugins_own_page_is_linked_from_the_admin_page_and_works_with_the_session() {
    let server = Server::start(ONE_PRINTER);
    let key = server.create_user_key("ada", "admin").await;
    scenario(&server, "plugin-page", "ada", &key).await;
}
