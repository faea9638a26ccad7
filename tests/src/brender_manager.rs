//! A stand-in external brender manager for the end-to-end tests of the `brender` plugin: the
//! manager's side of the push contract (`shared/reference/brender-api.md`, "Server → manager"),
//! on 127.0.0.1. It takes tasks with `POST /tasks` (answering 202 as the real manager did), stops
//! them with `DELETE /tasks/<id>` (202, `status: aborted`), answers 404 on `/` as the real one
//! did (still online for the server), lists one worker on `GET /workers`, and writes down every
//! request so a test can check what the server sent.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode, Uri};
use axum::routing::{delete, get, post};
use axum::{Form, Json, Router};
use serde_json::{json, Value};

/// One request the manager received.
#[derive(Debug, Clone)]
pub struct Received {
    /// `POST`, `DELETE`, `GET`.
    pub method: String,
    /// The path.
    pub path: String,
    /// The form fields of a `POST`.
    pub fields: HashMap<String, String>,
}

type Log = Arc<Mutex<Vec<Received>>>;

/// The running stand-in; it stops when dropped.
pub struct ManagerStandin {
    /// Where it listens.
    pub addr: SocketAddr,
    log: Log,
    task: tokio::task::JoinHandle<()>,
}

impl ManagerStandin {
    /// Starts one on a free port of 127.0.0.1.
    pub async fn start() -> ManagerStandin {
        let log: Log = Arc::default();
        let app = Router::new()
            .route("/tasks", post(take_task))
            .route("/tasks/{id}", delete(stop_task))
            .route("/workers", get(workers))
            .fallback(not_found)
            .with_state(log.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        ManagerStandin { addr, log, task }
    }

    /// Its origin, for `outbound-hosts`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }

    /// The tasks pushed to it so far (`POST /tasks`), in order.
    pub fn pushed(&self) -> Vec<HashMap<String, String>> {
        self.received()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path == "/tasks")
            .map(|r| r.fields)
            .collect()
    }

    /// The task ids it was told to stop (`DELETE /tasks/<id>`).
    pub fn stopped(&self) -> Vec<String> {
        self.received()
            .into_iter()
            .filter(|r| r.method == "DELETE")
            .filter_map(|r| r.path.strip_prefix("/tasks/").map(str::to_string))
            .collect()
    }

    /// Waits until `count` tasks were pushed; fails the test after `secs`.
    pub async fn wait_pushed(&self, count: usize, secs: u64) -> Vec<HashMap<String, String>> {
        crate::wait_for(&format!("{count} pushed tasks"), secs, async || {
            let pushed = self.pushed();
            (pushed.len() >= count).then_some(pushed)
        })
        .await
    }

    /// Waits until it was told to stop `count` tasks; fails the test after `secs`.
    pub async fn wait_stopped(&self, count: usize, secs: u64) -> Vec<String> {
        crate::wait_for(&format!("{count} stopped tasks"), secs, async || {
            let stopped = self.stopped();
            (stopped.len() >= count).then_some(stopped)
        })
        .await
    }

    /// Gives the server a moment in which it must not push anything more.
    pub async fn quiet_for(&self, dur: Duration) -> usize {
        let before = self.pushed().len();
        tokio::time::sleep(dur).await;
        self.pushed().len() - before
    }
}

impl Drop for ManagerStandin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn take_task(
    State(log): State<Log>,
    Form(fields): Form<HashMap<String, String>>,
) -> (StatusCode, Json<Value>) {
    let reply = json!({
        "id": log.lock().unwrap().len() + 1,
        "worker_id": 1,
        "priority": fields.get("priority"),
        "frame_start": fields.get("start"),
        "frame_end": fields.get("end"),
        "frame_current": fields.get("start"),
        "status": "running",
        "format": fields.get("format"),
    });
    log.lock().unwrap().push(Received {
        method: "POST".into(),
        path: "/tasks".into(),
        fields,
    });
    (StatusCode::ACCEPTED, Json(reply))
}

async fn stop_task(State(log): State<Log>, Path(id): Path<String>) -> (StatusCode, Json<Value>) {
    log.lock().unwrap().push(Received {
        method: "DELETE".into(),
        path: format!("/tasks/{id}"),
        fields: HashMap::new(),
    });
    (
        StatusCode::ACCEPTED,
        Json(json!({"frame_current": 1, "status": "aborted"})),
    )
}

async fn workers(State(log): State<Log>) -> Json<Value> {
    log.lock().unwrap().push(Received {
        method: "GET".into(),
        path: "/workers".into(),
        fields: HashMap::new(),
    });
    Json(json!({"render-node-1": {
        "id": 1, "hostname": "render-node-1", "status": "enabled",
        "connection": "online", "system": "Linux", "port": 5000, "ip_address": "127.0.0.1"
    }}))
}

async fn not_found(State(log): State<Log>, method: Method, uri: Uri) -> StatusCode {
    log.lock().unwrap().push(Received {
        method: method.to_string(),
        path: uri.path().to_string(),
        fields: HashMap::new(),
    });
    StatusCode::NOT_FOUND
}
