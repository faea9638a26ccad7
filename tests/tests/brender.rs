//! The brender 2 farm API (plugin `brender`) end to end, called as the original dashboard called
//! it: form-encoded bodies (lists as repeated keys), the original's status codes and bodies.
//! Jobs print through the farm's queue on virtual printers; an external manager is a stand-in
//! that records the server's pushes.

use printfarm_e2e::brender_manager::ManagerStandin;
use printfarm_e2e::*;
use serde_json::{json, Value};

/// A form-encoded request to the brender API with the admin's key.
async fn form(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    fields: &[(&str, &str)],
) -> (u16, Value) {
    let (status, body, _) = send(
        server
            .client()
            .request(method, server.url(&format!("/brender{path}")))
            .form(fields),
    )
    .await;
    (status, body)
}

/// The status of a form-encoded request, for checks that read nothing else.
async fn status_of(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    fields: &[(&str, &str)],
) -> u16 {
    form(server, method, path, fields).await.0
}

async fn get(server: &Server, path: &str) -> (u16, Value) {
    form(server, reqwest::Method::GET, path, &[]).await
}

const PATHS: [(&str, &str); 8] = [
    ("path_server", "orders/acme"),
    ("path_linux", "orders/acme"),
    ("path_win", "C:\\orders\\acme"),
    ("path_osx", "/Volumes/orders/acme"),
    ("render_path_server", "out"),
    ("render_path_linux", "out"),
    ("render_path_win", "C:\\out"),
    ("render_path_osx", "/Volumes/out"),
];

#[tokio::test]
async fn projects_are_kept_and_answered_as_the_original_did() {
    let server = Server::start(ONE_PRINTER);
    assert_eq!(
        get(&server, "/").await,
        (200, json!({"message": "Brender server up and running!"}))
    );
    // The mount's root answers without the trailing slash too.
    assert_eq!(get(&server, "").await.0, 200);
    assert_eq!(get(&server, "/projects").await, (200, json!({})));

    let mut fields = vec![("name", "Acme order"), ("is_active", "False")];
    fields.extend(PATHS);
    let (status, created) = form(&server, reqwest::Method::POST, "/projects", &fields).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["path_win"], "C:\\orders\\acme");
    // 'False' means false (the original made the project active: a defect).
    assert_eq!(created["is_active"], false);

    let (status, list) = get(&server, "/projects").await;
    assert_eq!(status, 200);
    let entry = &list[id.to_string()];
    assert_eq!(entry["name"], "Acme order");
    assert!(
        entry.get("id").is_none() && entry.get("is_active").is_none(),
        "{entry}"
    );

    // A PUT sets every path it does not send to null, and answers 201.
    let (status, updated) = form(
        &server,
        reqwest::Method::PUT,
        &format!("/projects/{id}"),
        &[("path_server", "orders/acme2"), ("is_active", "True")],
    )
    .await;
    assert_eq!(status, 201, "{updated}");
    assert_eq!(updated["path_server"], "orders/acme2");
    assert!(updated["path_win"].is_null());
    assert_eq!(updated["is_active"], true);
    let (_, settings) = get(&server, "/settings").await;
    assert_eq!(settings["active_project"], id.to_string());

    let (status, _) = form(
        &server,
        reqwest::Method::DELETE,
        &format!("/projects/{id}"),
        &[],
    )
    .await;
    assert_eq!(status, 204);
    let (status, body) = form(
        &server,
        reqwest::Method::DELETE,
        &format!("/projects/{id}"),
        &[],
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["status"], 404);
    let (_, settings) = get(&server, "/settings").await;
    assert!(settings["active_project"].is_null(), "{settings}");
}

#[tokio::test]
async fn settings_are_read_back_as_written_and_bad_input_is_a_400() {
    let server = Server::start(ONE_PRINTER);
    let (status, settings) = get(&server, "/settings").await;
    assert_eq!(status, 200);
    assert_eq!(settings.as_object().unwrap().len(), 7);
    assert!(settings["blender_path_linux"].is_null());
    let (status, _) = form(
        &server,
        reqwest::Method::POST,
        "/settings",
        &[
            ("blender_path_linux", "/usr/bin/blender"),
            ("render_settings_path_linux", "profiles"),
        ],
    )
    .await;
    assert_eq!(status, 204);
    let (_, settings) = get(&server, "/settings").await;
    assert_eq!(settings["blender_path_linux"], "/usr/bin/blender");
    assert!(settings["blender_path_win"].is_null());

    // The original's answers: an unknown URL, a bad integer, a bad boolean, no name.
    assert_eq!(
        get(&server, "/nothing/here").await,
        (
            404,
            json!({"code": 404, "message": "No interface defined for URL"})
        )
    );
    assert_eq!(
        get(&server, "/projects/abc").await,
        (
            400,
            json!({"message": "invalid literal for int() with base 10: 'abc'"})
        )
    );
    let (status, body) = form(
        &server,
        reqwest::Method::POST,
        "/projects",
        &[("name", "x"), ("is_active", "maybe")],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = form(
        &server,
        reqwest::Method::POST,
        "/projects",
        &[("path_server", "a")],
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("`name` is required"))
    );
    // JSON bodies work as well as forms.
    let (status, body, _) = send(
        server
            .client()
            .post(server.url("/brender/projects"))
            .json(&json!({"name": "From JSON", "path_server": ""})),
    )
    .await;
    assert_eq!((status, body["name"].as_str()), (201, Some("From JSON")));
}

#[tokio::test]
async fn keys_are_needed_and_viewers_only_read() {
    let server = Server::start(ONE_PRINTER);
    let (status, _, _) = send(reqwest::Client::new().get(server.url("/brender/projects"))).await;
    assert_eq!(status, 401);
    let viewer = client_with_key(&server.create_user_key("vic", "viewer").await);
    let (status, _, _) = send(viewer.get(server.url("/brender/projects"))).await;
    assert_eq!(status, 200);
    let (status, _, _) = send(
        viewer
            .post(server.url("/brender/projects"))
            .form(&[("name", "nope")]),
    )
    .await;
    assert_eq!(status, 403);
}

/// Uploads `orders/acme/part.gcode` (`moves` one-second moves) and makes the project of the
/// `orders/acme` folder, active; returns its id.
async fn project_with_part(server: &Server, moves: usize) -> i64 {
    server
        .upload_gcode_at(Some("orders/acme/part.gcode"), "part.gcode", gcode(moves))
        .await;
    let mut fields = vec![("name", "Acme"), ("is_active", "True")];
    fields.extend(PATHS);
    let (status, created) = form(server, reqwest::Method::POST, "/projects", &fields).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_i64().unwrap()
}

/// The dashboard's add-job form, with copies `frame_start..=frame_end`.
async fn post_job(
    server: &Server,
    project: i64,
    frames: (i64, i64),
    chunk: i64,
    status: &str,
    managers: &[&str],
) -> (u16, Value) {
    let (project, start, end, chunk) = (
        project.to_string(),
        frames.0.to_string(),
        frames.1.to_string(),
        chunk.to_string(),
    );
    let mut fields = vec![
        ("project_id", project.as_str()),
        ("job_name", "Brackets"),
        ("frame_start", start.as_str()),
        ("frame_end", end.as_str()),
        ("chunk_size", chunk.as_str()),
        ("current_frame", start.as_str()),
        ("filepath", "part.gcode"),
        ("render_settings", ""),
        ("format", "PNG"),
        ("status", status),
        ("priority", "10"),
        ("owner", "fsiddi"),
    ];
    fields.extend(managers.iter().map(|m| ("managers", *m)));
    form(server, reqwest::Method::POST, "/jobs", &fields).await
}

/// The tasks of a job, by task id.
async fn tasks_of(server: &Server, job: i64) -> Vec<(String, Value)> {
    let (status, tasks) = get(server, "/tasks").await;
    assert_eq!(status, 200, "{tasks}");
    tasks
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, t)| t["job_id"] == job)
        .map(|(id, t)| (id.clone(), t.clone()))
        .collect()
}

/// Waits until a task of the job is in `status`; returns it.
async fn wait_task(server: &Server, job: i64, status: &str, secs: u64) -> (String, Value) {
    wait_for(&format!("a task of job {job} {status}"), secs, async || {
        tasks_of(server, job)
            .await
            .into_iter()
            .find(|(_, t)| t["status"] == status)
    })
    .await
}

/// Waits until the job is in `status`; returns it.
async fn wait_job(server: &Server, job: i64, status: &str, secs: u64) -> Value {
    wait_for(&format!("job {job} {status}"), secs, async || {
        let (_, j) = get(server, &format!("/jobs/{job}")).await;
        (j["status"] == status).then_some(j)
    })
    .await
}

async fn printer_state(server: &Server, id: &str) -> String {
    server.get_json(&format!("/farm/api/printers/{id}")).await["state"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_goes_stopped_start_printing_stop_aborted_start_completed() {
    let server = Server::start(&virtual_printers(1, 1));
    let project = project_with_part(&server, 3).await;

    // What the add-job form reads: the farm's node is an online manager, the library's G-code
    // files are listed, the printer profiles are the render settings.
    let (_, managers) = get(&server, "/managers").await;
    let node = managers.as_object().unwrap().values().next().unwrap();
    assert_eq!(
        (node["id"].as_i64(), node["connection"].as_str()),
        (Some(1), Some("online")),
        "{managers}"
    );
    let (status, browse) = get(&server, "/browse").await;
    assert_eq!(status, 200, "{browse}");
    assert_eq!(browse["project_path_server"], "orders/acme");
    assert_eq!(browse["parent_path"], "");
    assert_eq!(
        browse["items_list"],
        json!([["part.gcode", "part.gcode", "gcodefile"]])
    );
    assert_eq!(get(&server, "/browse/nowhere").await.0, 404);
    assert_eq!(
        get(&server, "/settings/render").await,
        (200, json!({"settings_files": ["generic"]}))
    );

    // Created stopped: its tasks wait, nothing prints.
    let (status, job) = post_job(&server, project, (1, 3), 1, "stopped", &["1"]).await;
    assert_eq!(status, 201, "{job}");
    let id = job["id"].as_i64().unwrap();
    assert_eq!(
        job["job_name"], "Brackets",
        "the name is kept (the original lost it)"
    );
    assert_eq!(
        job["priority"], "10",
        "priority is a string, as the original marshalled it"
    );
    assert_eq!(job["status"], "stopped");
    let tasks = tasks_of(&server, id).await;
    assert_eq!(tasks.len(), 3);
    assert!(
        tasks
            .iter()
            .all(|(_, t)| t["status"] == "ready" && t["priority"] == 50),
        "{tasks:?}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(printer_state(&server, "v1").await, "operational");

    // The dashboard's list form starts it: a copy prints on the printer.
    let ids = id.to_string();
    let (status, body) = form(
        &server,
        reqwest::Method::PUT,
        "/jobs",
        &[("id", &ids), ("status", "start")],
    )
    .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("running")),
        "{body}"
    );
    let (_, running) = wait_task(&server, id, "running", 20).await;
    assert_eq!(running["worker"], "v1");
    assert_eq!(printer_state(&server, "v1").await, "printing");
    let (status, list) = get(&server, "/workers").await;
    assert_eq!(status, 200);
    assert_eq!(list["v1"]["status"], "rendering", "{list}");

    // A reset of a running job is refused with the original's intended answer.
    let (status, body) = form(
        &server,
        reqwest::Method::PUT,
        &format!("/jobs/{id}"),
        &[("command", "reset")],
    )
    .await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"code": 400, "message": "This job is running, stop it first."})
        )
    );

    // Stop cancels the print; its task is aborted.
    let (status, _) = form(
        &server,
        reqwest::Method::PUT,
        "/jobs",
        &[("id", &ids), ("status", "stop")],
    )
    .await;
    assert_eq!(status, 200);
    wait_task(&server, id, "aborted", 20).await;
    wait_for("the print cancelled", 20, async || {
        (printer_state(&server, "v1").await == "operational").then_some(())
    })
    .await;
    assert_eq!(
        get(&server, &format!("/jobs/{id}")).await.1["status"],
        "stopped"
    );

    // Start (the one-job form) makes the aborted task ready again, and the job completes.
    let (status, body) = form(
        &server,
        reqwest::Method::PUT,
        &format!("/jobs/{id}"),
        &[("command", "start")],
    )
    .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("running")),
        "{body}"
    );
    let done = wait_job(&server, id, "completed", 90).await;
    assert_eq!(done["percentage_done"], 100.0, "{done}");
    assert_eq!(done["current_frame"], 3, "{done}");
    let (_, jobs) = get(&server, "/jobs").await;
    assert_eq!(jobs[id.to_string()]["percentage_done"], 100.0, "{jobs}");
    assert!(tasks_of(&server, id)
        .await
        .iter()
        .all(|(_, t)| t["status"] == "finished"));

    // The farm's history has the three copies that printed and the one that was cancelled.
    let history = server.get_json("/farm/api/history").await;
    let outcomes: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["file"] == "orders/acme/part.gcode")
        .filter_map(|r| r["outcome"].as_str())
        .collect();
    let count = |o: &str| outcomes.iter().filter(|x| **x == o).count();
    assert_eq!((count("done"), count("cancelled")), (3, 1), "{history}");

    let (_, stats) = get(&server, "/stats/").await;
    assert_eq!(
        stats["server_stats"],
        json!({"total_jobs": 3, "total_shots": 1, "total_projects": 1})
    );
    assert_eq!(get(&server, "/stats").await.0, 200);

    // Reset of a job that ended: ready, tasks remade, nothing prints until started.
    let (status, _) = form(
        &server,
        reqwest::Method::PUT,
        "/jobs",
        &[("id", &ids), ("status", "reset")],
    )
    .await;
    assert_eq!(status, 200);
    let reset = get(&server, &format!("/jobs/{id}")).await.1;
    assert_eq!(
        (reset["status"].as_str(), reset["current_frame"].as_i64()),
        (Some("ready"), Some(1))
    );
    assert!(tasks_of(&server, id)
        .await
        .iter()
        .all(|(_, t)| t["status"] == "ready"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_copy_fails_the_job_disabled_workers_wait_and_delete_cancels() {
    let server = Server::start(&virtual_printers(2, 1));
    let project = project_with_part(&server, 30).await;

    // v2 is taken out of this API's jobs: the job prints on v1 only.
    let (status, body) = form(
        &server,
        reqwest::Method::POST,
        "/workers",
        &[("id", "v2"), ("status", "disabled")],
    )
    .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(get(&server, "/workers/v2").await.1["status"], "disabled");
    let (status, job) = post_job(&server, project, (1, 2), 2, "running", &["1"]).await;
    assert_eq!(status, 201, "{job}");
    let failing = job["id"].as_i64().unwrap();
    let (_, task) = wait_task(&server, failing, "running", 20).await;
    assert_eq!(task["worker"], "v1", "{task}");
    let (_, worker) = get(&server, "/workers/v1").await;
    assert_eq!(worker["update_frequent"]["state"], "printing", "{worker}");

    // The firmware dies mid-print: the copy failed, so the task and the job failed.
    server.send_gcode("v1", &["M112"]).await;
    let failed = wait_job(&server, failing, "failed", 30).await;
    assert_eq!(failed["percentage_done"], 0.0);
    assert_eq!(tasks_of(&server, failing).await[0].1["status"], "failed");

    // v1 is in error and v2 disabled: a new job waits.
    let (_, job) = post_job(&server, project, (1, 1), 1, "running", &["1"]).await;
    let waiting = job["id"].as_i64().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(tasks_of(&server, waiting).await[0].1["status"], "ready");
    assert_eq!(printer_state(&server, "v2").await, "operational");

    // Enabled again, v2 takes it; deleting the job while it prints cancels the print.
    let (status, _) = form(
        &server,
        reqwest::Method::POST,
        "/workers",
        &[("id", "v2"), ("status", "enabled")],
    )
    .await;
    assert_eq!(status, 204);
    let (_, task) = wait_task(&server, waiting, "running", 20).await;
    assert_eq!(task["worker"], "v2");
    let (status, _) = form(
        &server,
        reqwest::Method::DELETE,
        &format!("/jobs/{waiting}"),
        &[],
    )
    .await;
    assert_eq!(status, 204);
    wait_for("v2's print cancelled", 20, async || {
        (printer_state(&server, "v2").await == "operational").then_some(())
    })
    .await;
    assert_eq!(get(&server, &format!("/jobs/{waiting}")).await.0, 404);
    assert!(tasks_of(&server, waiting).await.is_empty());
    let (status, body) = form(
        &server,
        reqwest::Method::DELETE,
        &format!("/jobs/{waiting}"),
        &[],
    )
    .await;
    assert_eq!((status, body["status"].as_i64()), (404, Some(404)));

    // Deleting the project deletes its jobs and their tasks (the original left the tasks).
    let (status, _) = form(
        &server,
        reqwest::Method::DELETE,
        &format!("/projects/{project}"),
        &[],
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(get(&server, "/jobs").await, (200, json!({})));
    assert_eq!(get(&server, "/tasks").await, (200, json!({})));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_manager_gets_one_task_per_free_worker_and_stops_and_reports_back() {
    let manager = ManagerStandin::start().await;
    let config = format!(
        "{ONE_PRINTER}\n[plugins.brender]\noutbound-hosts = [\"{}\"]\n",
        manager.origin()
    );
    let server = Server::start(&config);
    let project = project_with_part(&server, 3).await;

    // The manager registers as the original did; the same address and port get the same uuid.
    let port = manager.addr.port().to_string();
    let register = [
        ("port", port.as_str()),
        ("name", "render-farm"),
        ("has_virtual_workers", "0"),
    ];
    let (status, first) = form(&server, reqwest::Method::POST, "/managers", &register).await;
    assert_eq!(status, 200, "{first}");
    let uuid = first["uuid"].as_str().unwrap().to_string();
    assert_eq!(uuid.len(), 32);
    assert_eq!(
        form(&server, reqwest::Method::POST, "/managers", &register)
            .await
            .1["uuid"],
        uuid
    );
    let (status, body) = form(
        &server,
        reqwest::Method::PATCH,
        &format!("/managers/{uuid}"),
        &[("total_workers", "1")],
    )
    .await;
    assert_eq!((status, body), (200, json!({"total_workers": 1})));
    let (_, managers) = get(&server, "/managers").await;
    let ext = &managers["render-farm"];
    assert_eq!(
        ext["connection"], "online",
        "a 404 on / still counts as online: {managers}"
    );
    let ext_id = ext["id"].as_i64().unwrap().to_string();
    // Its workers are merged into the farm's.
    let (_, workers) = get(&server, "/workers").await;
    assert!(
        workers.get("render-node-1").is_some() && workers.get("v1").is_some(),
        "{workers}"
    );

    // Two tasks for a manager with one worker: one is pushed, the other waits.
    let (status, job) = post_job(&server, project, (4, 5), 1, "running", &[&ext_id]).await;
    assert_eq!(status, 201, "{job}");
    let id = job["id"].as_i64().unwrap();
    let pushed = manager.wait_pushed(1, 10).await;
    let task = &pushed[0];
    assert_eq!(task["file_path_linux"], "orders/acme/part.gcode");
    assert_eq!(task["file_path_win"], "C:\\orders\\acme/part.gcode");
    assert_eq!(task["output_path_linux"], format!("out/{id}/#####"));
    assert_eq!((task["start"].as_str(), task["end"].as_str()), ("4", "4"));
    assert_eq!(
        (task["priority"].as_str(), task["format"].as_str()),
        ("10", "PNG")
    );
    assert_eq!(
        manager
            .quiet_for(std::time::Duration::from_millis(2500))
            .await,
        0
    );
    assert_eq!(
        printer_state(&server, "v1").await,
        "operational",
        "the farm's printers are not among the job's managers"
    );

    // The manager reports the first finished: 204, and the second task is pushed.
    let first_task = task["task_id"].clone();
    let (status, _) = form(
        &server,
        reqwest::Method::POST,
        "/tasks",
        &[("id", &first_task), ("status", "finished")],
    )
    .await;
    assert_eq!(status, 204);
    let pushed = manager.wait_pushed(2, 10).await;
    let second_task = pushed[1]["task_id"].clone();
    assert_eq!(pushed[1]["start"], "5");

    // Stop: the manager is told to stop the running task, which is aborted.
    let (status, _) = form(
        &server,
        reqwest::Method::PUT,
        &format!("/jobs/{id}"),
        &[("command", "stop")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        manager.wait_stopped(1, 10).await,
        std::slice::from_ref(&second_task)
    );
    let tasks = tasks_of(&server, id).await;
    let status_of = |t: &str| {
        tasks
            .iter()
            .find(|(i, _)| i == t)
            .map(|(_, v)| v["status"].clone())
    };
    assert_eq!(
        (status_of(&first_task), status_of(&second_task)),
        (Some(json!("finished")), Some(json!("aborted")))
    );
    // A late report of the stopped task changes nothing.
    form(
        &server,
        reqwest::Method::POST,
        "/tasks",
        &[("id", &second_task), ("status", "failed")],
    )
    .await;
    assert_eq!(
        get(&server, &format!("/jobs/{id}")).await.1["status"],
        "stopped"
    );

    // Started again: pushed again, reported finished, the job completes.
    form(
        &server,
        reqwest::Method::PUT,
        &format!("/jobs/{id}"),
        &[("command", "start")],
    )
    .await;
    let pushed = manager.wait_pushed(3, 10).await;
    assert_eq!(pushed[2]["task_id"], second_task);
    form(
        &server,
        reqwest::Method::POST,
        "/tasks",
        &[("id", &second_task), ("status", "finished")],
    )
    .await;
    let done = wait_job(&server, id, "completed", 10).await;
    assert_eq!(done["current_frame"], 5);
}

#[tokio::test]
async fn without_a_grant_a_manager_gets_nothing_and_is_offline() {
    let manager = ManagerStandin::start().await;
    let server = Server::start(ONE_PRINTER);
    let project = project_with_part(&server, 3).await;
    let port = manager.addr.port().to_string();
    let (status, _) = form(
        &server,
        reqwest::Method::POST,
        "/managers",
        &[("port", &port), ("name", "ext")],
    )
    .await;
    assert_eq!(status, 200);
    let (_, managers) = get(&server, "/managers").await;
    assert_eq!(managers["ext"]["connection"], "offline", "{managers}");
    let ext = managers["ext"]["id"].to_string();
    form(
        &server,
        reqwest::Method::PATCH,
        "/managers/x",
        &[("total_workers", "1")],
    )
    .await;
    let (status, job) = post_job(&server, project, (1, 1), 1, "running", &[&ext]).await;
    assert_eq!(status, 201, "{job}");
    assert_eq!(
        manager
            .quiet_for(std::time::Duration::from_millis(2500))
            .await,
        0
    );
    assert!(manager.received().is_empty(), "{:?}", manager.received());
    assert_eq!(
        tasks_of(&server, job["id"].as_i64().unwrap()).await[0].1["status"],
        "ready"
    );
}

#[tokio::test]
async fn every_bad_input_of_the_reference_is_a_4xx_and_writes_nothing() {
    let server = Server::start(ONE_PRINTER);
    let project = project_with_part(&server, 3).await;
    let p = project.to_string();
    // What is wrong, the fields changed from a good job, a word the message must contain.
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let bad: Vec<Case> = vec![
        ("chunk_size=0", vec![("chunk_size", "0")], "chunk_size"),
        (
            "frame_end < frame_start",
            vec![("frame_start", "5"), ("frame_end", "2")],
            "frame_end",
        ),
        ("no managers", vec![("managers", "")], "managers"),
        ("an unknown manager", vec![("managers", "99")], "manager 99"),
        (
            "a bad integer",
            vec![("frame_end", "abc")],
            "invalid literal for int() with base 10: 'abc'",
        ),
        (
            "a file not in the library",
            vec![("filepath", "nothere.gcode")],
            "nothere.gcode",
        ),
        (
            "an unknown project",
            vec![("project_id", "77")],
            "project 77",
        ),
        (
            "an unknown profile",
            vec![("render_settings", "delta")],
            "delta",
        ),
        (
            "a status a job cannot start in",
            vec![("status", "completed")],
            "status",
        ),
    ];
    for (what, changes, needle) in bad {
        let mut fields: Vec<(&str, &str)> = vec![
            ("project_id", &p),
            ("job_name", "x"),
            ("frame_start", "1"),
            ("frame_end", "2"),
            ("chunk_size", "1"),
            ("filepath", "part.gcode"),
            ("status", "stopped"),
            ("managers", "1"),
        ];
        for (k, v) in &changes {
            fields.retain(|(name, _)| name != k);
            if !v.is_empty() {
                fields.push((k, v));
            }
        }
        let (status, body) = form(&server, reqwest::Method::POST, "/jobs", &fields).await;
        assert_eq!(status, 400, "{what}: {body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{what}: {message}");
    }
    assert_eq!(
        get(&server, "/jobs").await,
        (200, json!({})),
        "nothing was half-written"
    );
    assert_eq!(get(&server, "/tasks").await, (200, json!({})));

    let (_, job) = post_job(&server, project, (1, 2), 1, "stopped", &["1"]).await;
    let id = job["id"].as_i64().unwrap();
    let path = format!("/jobs/{id}");
    let (status, body) = form(&server, reqwest::Method::PUT, &path, &[("command", "fly")]).await;
    assert_eq!((status, body["code"].as_i64()), (400, Some(400)), "{body}");
    let (status, _) = form(
        &server,
        reqwest::Method::PUT,
        "/jobs",
        &[("id", "1"), ("status", "fly")],
    )
    .await;
    assert_eq!(status, 400);
    // An unknown id among known ones: 404 and no job changed.
    let ids = format!("{id},999");
    let (status, _) = form(
        &server,
        reqwest::Method::PUT,
        "/jobs",
        &[("id", &ids), ("status", "start")],
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(get(&server, &path).await.1["status"], "stopped");
    let (status, _) = form(
        &server,
        reqwest::Method::POST,
        "/jobs/delete",
        &[("id", &ids)],
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(get(&server, &path).await.0, 200);
    assert_eq!(
        status_of(
            &server,
            reqwest::Method::PUT,
            "/jobs",
            &[("id", "x"), ("status", "start")]
        )
        .await,
        400
    );
    // Renamed through PUT: kept (the original lost it).
    let (status, body) = form(
        &server,
        reqwest::Method::PUT,
        &path,
        &[("job_name", "Renamed"), ("priority", "20")],
    )
    .await;
    assert_eq!(
        (status, body["job_name"].as_str(), body["priority"].as_str()),
        (200, Some("Renamed"), Some("20"))
    );
    // Reports without a status or of an unknown task, managers and workers: each a 4xx.
    use reqwest::Method;
    /// A request and the status it must get.
    type Refused<'a> = (Method, &'a str, &'a [(&'a str, &'a str)], u16);
    let refused: [Refused; 6] = [
        (Method::POST, "/tasks", &[("id", "1")], 400),
        (
            Method::POST,
            "/tasks",
            &[("id", "abc"), ("status", "finished")],
            400,
        ),
        (
            Method::POST,
            "/tasks",
            &[("id", "999"), ("status", "finished")],
            404,
        ),
        (Method::POST, "/managers", &[("port", "http")], 400),
        (
            Method::POST,
            "/workers",
            &[("id", "v1"), ("status", "off")],
            400,
        ),
        (
            Method::POST,
            "/workers",
            &[("id", "v9"), ("status", "disabled")],
            404,
        ),
    ];
    for (method, path, fields, expected) in refused {
        let (status, body) = form(&server, method.clone(), path, fields).await;
        assert_eq!(status, expected, "{method} {path} {fields:?}: {body}");
        assert!(body["message"].is_string(), "{method} {path}: {body}");
    }
    let (status, body) = form(
        &server,
        Method::PATCH,
        "/managers/0123",
        &[("total_workers", "2")],
    )
    .await;
    assert_eq!(
        (status, body["status"].as_i64()),
        (404, Some(404)),
        "the original answered 500"
    );
    assert_eq!(get(&server, "/workers/v9").await.0, 404);
    // The DELETE of the original never committed; here the job is gone.
    let (_, other) = post_job(&server, project, (1, 1), 1, "stopped", &["1"]).await;
    let other_path = format!("/jobs/{}", other["id"]);
    assert_eq!(
        status_of(&server, reqwest::Method::DELETE, &other_path, &[]).await,
        204
    );
    assert_eq!(get(&server, &other_path).await.0, 404);

    // Respawn (the list form) readies every unfinished task and runs the job; the instant
    // printer prints both copies.
    let (status, body) = form(
        &server,
        reqwest::Method::PUT,
        "/jobs",
        &[("id", &id.to_string()), ("status", "respawn")],
    )
    .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("running")),
        "{body}"
    );
    let done = wait_job(&server, id, "completed", 30).await;
    assert_eq!(done["current_frame"], 2, "{done}");
    // The dashboard's delete: 204, then the job and its tasks are gone.
    assert_eq!(
        status_of(
            &server,
            reqwest::Method::POST,
            "/jobs/delete",
            &[("id", &id.to_string())]
        )
        .await,
        204
    );
    assert_eq!(get(&server, &path).await.0, 404);
    assert_eq!(get(&server, "/tasks").await, (200, json!({})));
}

#[tokio::test]
async fn clients_without_keys_from_allowed_networks_and_a_port_of_its_own() {
    let port = std::cell::Cell::new(0u16);
    let server = Server::start_with(|| {
        port.set(free_port());
        format!(
            "{ONE_PRINTER}\n[plugins.brender]\nlisten = \"127.0.0.1:{}\"\n[plugins.brender.config]\nanonymous-networks = [\"127.0.0.0/8\"]\n",
            port.get()
        )
    });
    let own = format!("http://127.0.0.1:{}", port.get());
    let anonymous = reqwest::Client::new();
    let (status, body, _) = send(anonymous.get(format!("{own}/"))).await;
    assert_eq!(
        (status, body),
        (200, json!({"message": "Brender server up and running!"}))
    );
    let (status, body, _) = send(
        anonymous
            .post(format!("{own}/projects"))
            .form(&[("name", "No key")]),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body, _) = send(anonymous.get(format!("{own}/nothing"))).await;
    assert_eq!((status, body["code"].as_i64()), (404, Some(404)));
    // The path mount stays on the main port.
    let (status, list, _) = send(anonymous.get(server.url("/brender/projects"))).await;
    assert_eq!((status, list.as_object().map(|o| o.len())), (200, Some(1)));
}

#[tokio::test]
async fn anonymous_networks_must_be_networks() {
    let refusal = Server::refuse(&format!(
        "{ONE_PRINTER}\n[plugins.brender.config]\nanonymous-networks = [\"everyone\"]\n"
    ));
    assert!(
        refusal.stderr.contains("anonymous-networks"),
        "{}",
        refusal.stderr
    );
}
