//! The OctoPrint-compatible plugin end to end: the real binary with the shipped `octoprint`
//! plugin and virtual printers, replaying request by request what PrusaSlicer, Cura and Home
//! Assistant send, plus OctoPrint's auth rules and its answers to bad input.

use printfarm_e2e::octoprint_client::{file_part, Octo};
use printfarm_e2e::*;
use reqwest::multipart::Form;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn prusaslicer_upload_prints_to_completion_with_truthful_progress() {
    let server = Server::start(ONE_PRINTER);
    wait_state(&server, "v1", "operational").await;
    let ps = Octo::new(&server, "v1", Some(&server.admin_key));

    // PrusaSlicer's "Test" button, then its upload: print, path, file in that order.
    let v = ps.ok("/api/version").await;
    assert!(v["text"].as_str().unwrap().starts_with("OctoPrint"), "{v}");
    assert_eq!(v["api"], "0.1");
    let body = gcode(40);
    let size = body.len() as u64;
    let form = Form::new()
        .text("print", "true")
        .text("path", "")
        .part("file", file_part("benchy.gcode", body));
    let (status, v, headers) = ps.upload(form).await;
    assert_eq!(status, 201, "{v}");
    assert!(headers["location"]
        .to_str()
        .unwrap()
        .ends_with("/octoprint/v1/api/files/local/benchy.gcode"));
    assert_eq!(v["done"], true);
    assert_eq!(v["effectivePrint"], true, "{v}");
    assert_eq!(v["effectiveSelect"], true, "{v}");
    assert_eq!(v["files"]["local"]["path"], "benchy.gcode");
    assert_eq!(v["files"]["local"]["origin"], "local");

    // The print runs to the end; the job then reports the whole file as acknowledged.
    let job = wait_for("print done", 60, async || {
        let j = ps.ok("/api/job").await;
        (j["state"] == "Operational" && j["progress"]["completion"] == 100.0).then_some(j)
    })
    .await;
    assert_eq!(job["progress"]["filepos"], size, "{job}");
    assert_eq!(job["job"]["file"]["name"], "benchy.gcode");
    assert_eq!(job["job"]["file"]["size"], size);
    assert_eq!(job["job"]["file"]["origin"], "local");
    let history = server.get_json("/farm/api/history?printer=v1").await;
    assert!(history.to_string().contains("benchy.gcode"), "{history}");

    // The file is the farm's library file.
    let files = ps.ok("/api/files?recursive=true").await;
    assert_eq!(files["files"][0]["name"], "benchy.gcode", "{files}");
    assert_eq!(files["files"][0]["type"], "machinecode");
    assert!(files["free"].is_u64() && files["total"].is_u64());
    let lib = server.get_json("/farm/api/files").await;
    assert!(lib.to_string().contains("benchy.gcode"), "{lib}");
}

#[tokio::test]
async fn cura_flow_uploads_jogs_and_controls_the_job() {
    let server = Server::start(
        r#"
[[printers]]
id = "v1"
port = "virtual"
virtual-speed = 1
"#,
    );
    wait_state(&server, "v1", "operational").await;
    let cu = Octo::new(&server, "v1", Some(&server.admin_key));

    let settings = cu.ok("/api/settings").await;
    assert!(settings["plugins"]["discovery"]["upnpUuid"].is_string());
    // On, as in OctoPrint's defaults: clients read the card's state (never ready here).
    assert_eq!(settings["feature"]["sdSupport"], true);
    assert!(settings["webcam"]["webcamEnabled"].is_boolean());
    cu.ok("/api/version").await;
    let profiles = cu.ok("/api/printerprofiles").await;
    let (_, current) = profiles["profiles"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, p)| p["current"] == true)
        .expect("a current profile");
    assert!(current["axes"]["x"]["speed"].is_number(), "{current}");
    assert!(current["volume"]["width"].is_number());

    // Passive login, as a form (OctoPrint's own client) and as JSON.
    let r = cu
        .client
        .post(format!("{}/api/login", cu.base))
        .form(&[("passive", "True")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let user: Value = r.json().await.unwrap();
    assert_eq!(user["name"], "admin", "{user}");
    assert!(user["session"].is_string());
    assert_eq!(user["admin"], true);
    let (s, user) = cu.post("/api/login", json!({"passive": true})).await;
    assert_eq!(s, 200, "{user}");
    assert_eq!(user["apikey"], server.admin_key.as_str());

    let printer = cu.ok("/api/printer").await;
    assert_eq!(printer["state"]["text"], "Operational", "{printer}");
    assert_eq!(printer["state"]["flags"]["ready"], true);
    assert!(printer["temperature"].is_object());
    let job = cu.ok("/api/job").await;
    assert_eq!(job["state"], "Operational");
    assert!(job["job"]["file"]["name"].is_null(), "{job}");

    // Cura's upload: path, file, select, print.
    let form = Form::new()
        .text("path", "cura")
        .part("file", file_part("part one.gcode", gcode(60)))
        .text("select", "true")
        .text("print", "false");
    let (status, v, headers) = cu.upload(form).await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["effectiveSelect"], true);
    assert_eq!(v["effectivePrint"], false);
    let location = headers["location"].to_str().unwrap().to_string();
    assert!(
        location.ends_with("/octoprint/v1/api/files/local/cura/part%20one.gcode"),
        "{location}"
    );
    // Cura polls the Location until the analysis is there.
    let entry = wait_for("analysis", 30, async || {
        let e: Value = cu
            .client
            .get(&location)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        e.get("gcodeAnalysis").is_some().then_some(e)
    })
    .await;
    assert_eq!(entry["path"], "cura/part one.gcode");
    assert!(
        entry["gcodeAnalysis"]["estimatedPrintTime"].is_number(),
        "{entry}"
    );
    let job = cu.ok("/api/job").await;
    assert_eq!(job["job"]["file"]["path"], "cura/part one.gcode", "{job}");

    // Jogging through raw G-code and the print head endpoint.
    cu.command(
        "/api/printer/command",
        json!({"commands": ["G91", "G1 X10 F6000", "G90"]}),
    )
    .await;
    cu.command("/api/printer/command", json!({"command": "M105"}))
        .await;
    cu.command(
        "/api/printer/printhead",
        json!({"command": "jog", "x": 10, "y": -5, "speed": 3000}),
    )
    .await;
    cu.command(
        "/api/printer/printhead",
        json!({"command": "home", "axes": ["x", "y"]}),
    )
    .await;
    cu.command(
        "/api/printer/printhead",
        json!({"command": "feedrate", "factor": 100}),
    )
    .await;

    // Job control.
    cu.command("/api/job", json!({"command": "start"})).await;
    let job = wait_for("printing with progress", 30, async || {
        let j = cu.ok("/api/job").await;
        let c = j["progress"]["completion"].as_f64().unwrap_or(0.0);
        (j["state"] == "Printing" && c > 0.0 && c < 100.0).then_some(j)
    })
    .await;
    assert!(job["progress"]["filepos"].as_u64().unwrap() > 0, "{job}");
    assert!(job["progress"]["printTime"].is_u64());
    // The file's analysis gives the estimate from the start; the pace refines it.
    assert!(job["progress"]["printTimeLeft"].is_u64(), "{job}");
    assert_eq!(job["progress"]["printTimeLeftOrigin"], "estimate");
    let (s, _) = cu.post("/api/job", json!({"command": "start"})).await;
    assert_eq!(s, 409, "start while printing");
    let (s, _) = cu
        .post("/api/printer/printhead", json!({"command": "jog", "x": 1}))
        .await;
    assert_eq!(s, 409, "jog while printing");
    let (s, _) = cu.post("/api/job", json!({"command": "restart"})).await;
    assert_eq!(s, 409, "restart when not paused");
    cu.command("/api/job", json!({"command": "pause", "action": "pause"}))
        .await;
    wait_state(&server, "v1", "paused").await;
    let printer = cu.ok("/api/printer").await;
    assert_eq!(printer["state"]["flags"]["paused"], true);
    cu.command("/api/job", json!({"command": "pause", "action": "resume"}))
        .await;
    wait_state(&server, "v1", "printing").await;
    cu.command("/api/job", json!({"command": "cancel"})).await;
    wait_state(&server, "v1", "operational").await;
    let (s, _) = cu.post("/api/job", json!({"command": "cancel"})).await;
    assert_eq!(s, 409, "cancel with no job");
}

#[tokio::test]
async fn home_assistant_polls_sets_targets_controls_and_sees_offline_as_409() {
    let server = Server::start(
        r#"
[[printers]]
id = "v1"
port = "virtual"
virtual-speed = 1

[[printers]]
id = "gone"
port = "/dev/printfarm-absent-0"
"#,
    );
    wait_state(&server, "v1", "operational").await;
    let ha = Octo::new(&server, "v1", Some(&server.admin_key));
    let off = Octo::new(&server, "gone", Some(&server.admin_key));

    let s1 = ha.ok("/api/settings").await;
    let s2 = off.ok("/api/settings").await;
    let uuid = s1["plugins"]["discovery"]["upnpUuid"].as_str().unwrap();
    assert_ne!(uuid, s2["plugins"]["discovery"]["upnpUuid"]);
    assert_eq!(
        ha.ok("/api/settings").await["plugins"]["discovery"]["upnpUuid"],
        uuid,
        "stable"
    );
    ha.ok("/api/server").await;

    // The offline printer: 409 on /api/printer, 200 on /api/job, 409 on job commands.
    let (s, v) = off.get("/api/printer").await;
    assert_eq!(s, 409);
    assert_eq!(v, json!({"error": "Printer is not operational"}));
    let job = off.ok("/api/job").await;
    assert_eq!(job["state"], "Offline", "{job}");
    let (s, _) = off.post("/api/job", json!({"command": "pause"})).await;
    assert_eq!(s, 409);
    let (s, _) = off
        .post(
            "/api/printer/bed",
            json!({"command": "target", "target": 60}),
        )
        .await;
    assert_eq!(s, 409);

    // Targets: HA calls //api/printer/bed with a double slash.
    let r = ha
        .client
        .post(format!("{}//api/printer/bed", ha.base))
        .json(&json!({"command": "target", "target": 55}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    ha.command(
        "/api/printer/tool",
        json!({"command": "target", "targets": {"tool0": 190}}),
    )
    .await;
    ha.command(
        "/api/printer/tool",
        json!({"command": "offset", "offsets": {"tool0": 5}}),
    )
    .await;
    let printer = wait_for("targets reported", 30, async || {
        let p = ha.ok("/api/printer?history=true&limit=5").await;
        (p["temperature"]["bed"]["target"] == 55.0 && p["temperature"]["tool0"]["target"] == 190.0)
            .then_some(p)
    })
    .await;
    assert_eq!(printer["temperature"]["tool0"]["offset"], 5.0);
    assert!(printer["temperature"]["history"].is_array(), "{printer}");
    let slim = ha.ok("/api/printer?exclude=temperature,sd").await;
    assert!(slim.get("temperature").is_none() && slim.get("sd").is_none());
    assert!(slim["state"]["flags"].is_object());
    ha.command(
        "/api/printer/bed",
        json!({"command": "target", "target": 0}),
    )
    .await;
    ha.command(
        "/api/printer/tool",
        json!({"command": "target", "targets": {"tool0": 0}}),
    )
    .await;

    // Pause, resume, cancel: exactly 204.
    let form = Form::new().part("file", file_part("ha.gcode", gcode(60)));
    let (s, v, _) = ha.upload(form).await;
    assert_eq!(s, 201, "{v}");
    ha.command(
        "/api/files/local/ha.gcode",
        json!({"command": "select", "print": true}),
    )
    .await;
    wait_state(&server, "v1", "printing").await;
    ha.command("/api/job", json!({"command": "pause", "action": "pause"}))
        .await;
    wait_state(&server, "v1", "paused").await;
    ha.command("/api/job", json!({"command": "pause", "action": "resume"}))
        .await;
    wait_state(&server, "v1", "printing").await;
    ha.command("/api/job", json!({"command": "pause"})).await;
    wait_state(&server, "v1", "paused").await;
    ha.command("/api/job", json!({"command": "cancel"})).await;
    wait_state(&server, "v1", "operational").await;

    // Disconnect and connect.
    let conn = ha.ok("/api/connection").await;
    assert_eq!(conn["current"]["state"], "Operational", "{conn}");
    let profile = conn["options"]["printerProfiles"][0]["id"].clone();
    ha.command("/api/connection", json!({"command": "disconnect"}))
        .await;
    wait_state(&server, "v1", "offline").await;
    let (s, _) = ha.get("/api/printer").await;
    assert_eq!(s, 409);
    ha.command(
        "/api/connection",
        json!({"command": "connect", "printerprofile": profile}),
    )
    .await;
    wait_state(&server, "v1", "operational").await;
    ha.ok("/api/printer").await;
}

#[tokio::test]
async fn keys_are_checked_as_octoprint_does() {
    let server = Server::start(ONE_PRINTER);
    wait_state(&server, "v1", "operational").await;
    let (s, v) = server
        .call(
            Method::POST,
            "/farm/api/users",
            Some(json!({"name": "watcher", "role": "viewer", "password": "watch-me-123"})),
        )
        .await;
    assert!(s == 200 || s == 201, "{s} {v}");
    let viewer_key = v["api_key"].as_str().unwrap().to_string();

    let anon = Octo::new(&server, "v1", None);
    let bad = Octo::new(&server, "v1", Some("not-a-key-at-all"));
    for path in [
        "/api/version",
        "/api/job",
        "/api/printer",
        "/api/settings",
        "/api/files",
    ] {
        for c in [&anon, &bad] {
            let (s, v) = c.get(path).await;
            assert_eq!(s, 403, "{path}: {v}");
            assert!(v["error"].as_str().unwrap().contains("permission"), "{v}");
        }
    }
    // Open endpoints.
    let me = anon.ok("/api/currentuser").await;
    assert_eq!(
        me,
        json!({"name": null, "groups": ["guests"], "permissions": []})
    );
    // A change without a key needs OctoPrint's CSRF token pair first (400 without it); with
    // it, an anonymous passive login is a guest.
    let (s, v) = anon.post("/api/login", json!({"passive": true})).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("CSRF validation failed"))
    );
    let (s, v) = anon.post("/api/job", json!({"command": "cancel"})).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("CSRF validation failed"))
    );
    let browser = Octo::browser(&server, "v1").await;
    let (s, guest) = browser.post("/api/login", json!({"passive": true})).await;
    assert_eq!(s, 200, "a guest, as OctoPrint answers: {guest}");
    assert_eq!(guest["needs"]["group"], json!(["guests"]), "{guest}");
    let (s, _) = browser.post("/api/job", json!({"command": "cancel"})).await;
    assert_eq!(s, 403, "the token is no credential");

    // Bearer and ?apikey= work too.
    let r = reqwest::Client::new()
        .get(format!("{}/api/version", anon.base))
        .bearer_auth(&server.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (s, _) = anon
        .get(&format!("/api/version?apikey={}", server.admin_key))
        .await;
    assert_eq!(s, 200);

    // A viewer reads but changes nothing.
    let viewer = Octo::new(&server, "v1", Some(&viewer_key));
    viewer.ok("/api/job").await;
    viewer.ok("/api/printer").await;
    viewer.ok("/api/files").await;
    let me = viewer.ok("/api/currentuser").await;
    assert_eq!(me["name"], "watcher");
    for (path, body) in [
        ("/api/job", json!({"command": "start"})),
        (
            "/api/printer/printhead",
            json!({"command": "home", "axes": ["x"]}),
        ),
        ("/api/printer/command", json!({"command": "M105"})),
        (
            "/api/printer/bed",
            json!({"command": "target", "target": 50}),
        ),
        ("/api/connection", json!({"command": "disconnect"})),
        ("/api/system/commands/core/shutdown", json!({})),
    ] {
        let (s, v) = viewer.post(path, body).await;
        assert_eq!(s, 403, "{path}: {v}");
    }
    let form = Form::new().part("file", file_part("v.gcode", gcode(2)));
    let (s, _, _) = viewer.upload(form).await;
    assert_eq!(s, 403);
    // System commands are for OctoPrint's SYSTEM permission: admins only.
    assert_eq!(viewer.get("/api/system/commands").await.0, 403);
    let admin = Octo::new(&server, "v1", Some(&server.admin_key));
    let sys = admin.ok("/api/system/commands").await;
    assert_eq!(sys, json!({"core": [], "custom": [], "plugin": []}));
    let (s, _) = server
        .call(Method::GET, "/farm/api/printers/v1", None)
        .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn bad_input_answers_as_octoprint_and_files_behave() {
    let server = Server::start(ONE_PRINTER);
    wait_state(&server, "v1", "operational").await;
    let c = Octo::new(&server, "v1", Some(&server.admin_key));

    // Command bodies.
    let r = c
        .client
        .post(format!("{}/api/job", c.base))
        .header("content-type", "application/json")
        .body("{\"command\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "malformed JSON");
    let r = c
        .client
        .post(format!("{}/api/job", c.base))
        .header("content-type", "text/plain")
        .body("{\"command\": \"start\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415, "wrong content type");
    let (s, v) = c.post("/api/job", json!({"command": "explode"})).await;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"].is_string());
    let (s, _) = c.post("/api/job", json!({"nocommand": 1})).await;
    assert_eq!(s, 400);
    // Measured against OctoPrint 1.11.8: a start with nothing selected is a silent 204.
    let (s, _) = c.post("/api/job", json!({"command": "start"})).await;
    assert_eq!(s, 204, "nothing selected");
    let (s, _) = c.post("/api/job", json!({"command": "pause"})).await;
    assert_eq!(s, 409, "no job to pause");
    let (s, _) = c
        .post(
            "/api/job",
            json!({"command": "pause", "action": "sideways"}),
        )
        .await;
    assert!(s == 400 || s == 409, "{s}");
    let (s, _) = c
        .post("/api/printer/tool", json!({"command": "target"}))
        .await;
    assert_eq!(s, 400, "missing targets");
    let (s, _) = c
        .post(
            "/api/printer/tool",
            json!({"command": "target", "targets": {"nozzle": 200}}),
        )
        .await;
    assert_eq!(s, 400, "bad tool");
    let (s, _) = c
        .post(
            "/api/printer/printhead",
            json!({"command": "jog", "x": "far"}),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = c.post("/api/printer/command", json!({})).await;
    assert_eq!(s, 400);
    let (s, _) = c
        .post(
            "/api/printer/chamber",
            json!({"command": "target", "target": 40}),
        )
        .await;
    assert_eq!(s, 409, "no heated chamber");
    let (s, _) = c
        .post(
            "/api/connection",
            json!({"command": "connect", "port": "/dev/elsewhere"}),
        )
        .await;
    assert_eq!(s, 400);
    // SD support is on as in OctoPrint's defaults (octorest reads it), with no card ready.
    assert_eq!(c.ok("/api/printer/sd").await, json!({"ready": false}));
    c.command("/api/printer/sd", json!({"command": "refresh"}))
        .await;

    // Files: unknown, traversal, wrong type, nothing to upload.
    let (s, _) = c.get("/api/files/local/nope.gcode").await;
    assert_eq!(s, 404);
    let (s, _) = c
        .post("/api/files/local/nope.gcode", json!({"command": "select"}))
        .await;
    assert_eq!(s, 404);
    let form = Form::new()
        .text("path", "../../etc")
        .part("file", file_part("x.gcode", gcode(2)));
    let (s, v, _) = c.upload(form).await;
    assert_eq!(s, 400, "{v}");
    let form = Form::new().part("file", file_part("model.stl", "solid x".into()));
    let (s, v, _) = c.upload(form).await;
    assert_eq!(s, 415, "{v}");
    let form = Form::new().text("select", "true");
    let (s, v, _) = c.upload(form).await;
    assert_eq!(s, 400, "{v}");
    let (s, _) = c.get("/api/files/elsewhere").await;
    assert_eq!(s, 404);

    // Folders, copy, move, select, unselect, delete.
    let form = Form::new().text("foldername", "parts").text("path", "");
    let (s, v, h) = c.upload(form).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["folder"]["path"], "parts");
    assert_eq!(v["done"], true);
    assert!(h.contains_key("location"));
    // As OctoPrint 1.11.8 answers (measured): an existing folder is created again (201), a
    // folder named like G-code is refused (409), and malformed upload userdata is a 400.
    let form = Form::new().text("foldername", "parts");
    let (s, _, _) = c.upload(form).await;
    assert_eq!(s, 201, "folder exists");
    let form = Form::new().text("foldername", "x.gcode");
    let (s, _, _) = c.upload(form).await;
    assert_eq!(s, 409, "a folder named like a file");
    let form = Form::new()
        .part("file", file_part("u.gcode", gcode(3)))
        .text("userdata", "{not json");
    let (s, v, _) = c.upload(form).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("userdata contains invalid JSON"))
    );
    let form = Form::new()
        .part("file", file_part("a.gcode", gcode(3)))
        .text("path", "parts");
    let (s, v, _) = c.upload(form).await;
    assert_eq!(s, 201, "{v}");
    let form = Form::new()
        .part("file", file_part("a.gcode", gcode(3)))
        .text("path", "parts")
        .text("noOverwrite", "true");
    let (s, _, _) = c.upload(form).await;
    assert_eq!(s, 409, "noOverwrite");
    let (s, v, h) = send(
        c.client
            .post(format!("{}/api/files/local/parts/a.gcode", c.base))
            .json(&json!({"command": "copy", "destination": ""})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["path"], "a.gcode");
    assert!(h["location"]
        .to_str()
        .unwrap()
        .ends_with("/api/files/local/a.gcode"));
    let (s, _) = c
        .post(
            "/api/files/local/parts/a.gcode",
            json!({"command": "copy", "destination": ""}),
        )
        .await;
    assert_eq!(s, 409, "copy onto an existing file");
    let (s, v) = c
        .post(
            "/api/files/local/a.gcode",
            json!({"command": "move", "destination": "b.gcode"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["name"], "b.gcode");
    let (s, _) = c
        .post("/api/files/local/b.gcode", json!({"command": "fly"}))
        .await;
    assert_eq!(s, 400);
    c.command("/api/files/local/b.gcode", json!({"command": "select"}))
        .await;
    assert_eq!(c.ok("/api/job").await["job"]["file"]["path"], "b.gcode");
    c.command("/api/files/local/b.gcode", json!({"command": "unselect"}))
        .await;
    assert!(c.ok("/api/job").await["job"]["file"]["path"].is_null());
    c.command("/api/files/local/b.gcode", json!({"command": "analyse"}))
        .await;
    let tree = c.ok("/api/files/local?recursive=true").await;
    let parts = tree["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "parts")
        .expect("folder listed")
        .clone();
    assert_eq!(parts["type"], "folder");
    assert_eq!(parts["children"][0]["path"], "parts/a.gcode", "{parts}");
    let dl = c
        .client
        .get(format!("{}/downloads/files/local/b.gcode", c.base))
        .send()
        .await
        .unwrap();
    // The host streams the library file the plugin names: the download is the file itself.
    assert_eq!(dl.status(), 200);
    assert_eq!(
        dl.headers()["content-length"],
        gcode(3).len().to_string().as_str()
    );
    assert_eq!(dl.text().await.unwrap(), gcode(3));
    let r = c
        .client
        .delete(format!("{}/api/files/local/parts", c.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (s, _) = c.get("/api/files/local/parts/a.gcode").await;
    assert_eq!(s, 404);
    let r = c
        .client
        .delete(format!("{}/api/files/local/parts", c.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn profiles_webcam_and_disk_space_come_from_the_farm() {
    let server = Server::start(
        r#"
[profiles.delta]
volume = [180, 180, 300]
origin = "center"
bed-shape = "circular"
heated-bed = false
extruders = 2
nozzle-diameter = 0.6
max-speeds = [12000, 12000, 12000, 600]

[[printers]]
id = "d1"
port = "virtual"
virtual-speed = 0
profile = "delta"
webcam-snapshot = "http://cam-1/snapshot.jpg"
"#,
    );
    let octo = Octo::new(&server, "d1", Some(&server.admin_key));
    let (s, profiles) = octo.get("/api/printerprofiles").await;
    assert_eq!(s, 200, "{profiles}");
    let profile = profiles["profiles"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap();
    assert_eq!(profile["name"], "delta");
    assert_eq!(
        profile["volume"],
        json!({"width": 180.0, "depth": 180.0, "height": 300.0, "formFactor": "circular",
               "origin": "center", "custom_box": false})
    );
    assert_eq!(profile["axes"]["z"]["speed"], 12000.0);
    assert_eq!(profile["extruder"]["count"], 2);
    assert_eq!(profile["extruder"]["nozzleDiameter"], 0.6);
    assert_eq!(profile["heatedBed"], false);

    let (_, settings) = octo.get("/api/settings").await;
    assert_eq!(settings["webcam"]["webcamEnabled"], true);
    assert_eq!(
        settings["webcam"]["snapshotUrl"],
        "http://cam-1/snapshot.jpg"
    );

    let (_, listing) = octo.get("/api/files").await;
    let (free, total) = (
        listing["free"].as_u64().unwrap(),
        listing["total"].as_u64().unwrap(),
    );
    assert!(free > 0 && total >= free && total < 1 << 50, "{listing}");

    // A profile that does not exist is a config error naming the key.
    let refusal =
        Server::refuse("[[printers]]\nid = \"p\"\nport = \"virtual\"\nprofile = \"mk9\"\n");
    assert!(
        refusal.stderr.contains("printers[0].profile") && refusal.stderr.contains("[profiles.mk9]"),
        "{}",
        refusal.stderr
    );
    let refusal = Server::refuse("[profiles.bad]\nvolume = [0, 10, 10]\n");
    assert!(
        refusal.stderr.contains("profiles.bad"),
        "{}",
        refusal.stderr
    );
}
