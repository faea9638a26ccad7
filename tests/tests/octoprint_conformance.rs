//! Answers of the OctoPrint surface found different from a real OctoPrint 1.11.8 by the
//! differential run (`scripts/octoprint-diff`), each fixed and kept here so it stays fixed without
//! OctoPrint installed: the routes OctoPrint's web client, phone apps and scripts call beyond the
//! slicers and Home Assistant, with the roles that may call them.

use printfarm_e2e::octoprint_client::{file_part, Octo};
use printfarm_e2e::*;
use reqwest::multipart::Form;
use serde_json::{json, Value};

/// The surface of printer v1 for a viewer, an operator and an admin.
async fn clients(server: &Server) -> (Octo, Octo, Octo) {
    let viewer = server.create_user_key("vera", "viewer").await;
    let operator = server.create_user_key("olga", "operator").await;
    (
        Octo::new(server, "v1", Some(&viewer)),
        Octo::new(server, "v1", Some(&operator)),
        Octo::new(server, "v1", Some(&server.admin_key)),
    )
}

/// Uploads a file of `moves` one-second moves as `who` with `print=true` and waits until it prints.
async fn print(server: &Server, who: &Octo, name: &str, moves: usize) {
    let form = Form::new()
        .part("file", file_part(name, gcode(moves)))
        .text("print", "true");
    let (status, body, _) = who.upload(form).await;
    assert_eq!(status, 201, "{body}");
    wait_state(server, "v1", "printing").await;
}

#[tokio::test]
async fn heater_states_the_last_error_and_custom_controls_answer_as_octoprint() {
    let server = Server::start(ONE_PRINTER);
    wait_state(&server, "v1", "operational").await;
    let (viewer, operator, _) = clients(&server).await;

    // One kind of heater each; the history's entries keep only that kind, without `time`.
    let tools = viewer.ok("/api/printer/tool?history=true&limit=2").await;
    assert!(tools["tool0"]["actual"].is_number(), "{tools}");
    assert_eq!(tools["tool0"]["offset"], 0.0, "{tools}");
    assert!(tools.get("bed").is_none(), "{tools}");
    let history = tools["history"].as_array().unwrap();
    assert!(!history.is_empty() && history.len() <= 2, "{tools}");
    for entry in history {
        assert!(entry["tool0"]["actual"].is_number(), "{entry}");
        assert!(
            entry.get("time").is_none() && entry.get("bed").is_none(),
            "{entry}"
        );
    }
    let bed = viewer.ok("/api/printer/bed").await;
    assert!(
        bed["bed"]["target"].is_number() && bed.get("tool0").is_none(),
        "{bed}"
    );
    let (status, body) = viewer.get("/api/printer/chamber").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("Printer does not have a heated chamber"))
    );
    // `/api/printer` itself keeps `time` in its history.
    let printer = viewer.ok("/api/printer?history=true&limit=1").await;
    assert!(
        printer["temperature"]["history"][0]["time"].is_number(),
        "{printer}"
    );

    assert_eq!(
        viewer.ok("/api/printer/error").await,
        json!({"error": "", "reason": ""})
    );
    assert_eq!(viewer.get("/api/printer/command/custom").await.0, 403);
    assert_eq!(
        operator.ok("/api/printer/command/custom").await,
        json!({"controls": []})
    );

    // `command` and `commands` together are refused, as is a body with neither.
    for (body, why) in [
        (
            json!({"command": "M105", "commands": ["M105"]}),
            "mutually exclusive",
        ),
        (
            json!({"command": "M105", "script": "x"}),
            "mutually exclusive",
        ),
        (json!({"parameters": {}}), "Need one of"),
    ] {
        let (status, answer) = operator.post("/api/printer/command", body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(answer["error"].as_str().unwrap().contains(why), "{answer}");
    }
}

#[tokio::test]
async fn system_and_interface_routes_are_for_admins_and_listings_for_their_readers() {
    let server = Server::start(ONE_PRINTER);
    let (viewer, operator, admin) = clients(&server).await;
    let anonymous = Octo::new(&server, "v1", None);

    // OctoPrint's SYSTEM and SETTINGS permissions belong to admins only.
    for path in [
        "/api/system/commands",
        "/api/system/commands/core",
        "/api/system/info",
        "/api/system/usage",
        "/api/system/startup",
        "/api/setup/wizard",
        "/api/settings/templates",
        "/api/languages",
    ] {
        for who in [&anonymous, &viewer, &operator] {
            assert_eq!(who.get(path).await.0, 403, "{path}");
        }
        admin.ok(path).await;
    }
    assert_eq!(admin.ok("/api/system/commands/custom").await, json!([]));
    assert_eq!(admin.get("/api/system/commands/nope").await.0, 404);
    let (status, _) = admin
        .post("/api/system/commands/core/shutdown", json!({}))
        .await;
    assert_eq!(status, 404, "no command exists");
    let info = admin.ok("/api/system/info").await;
    assert_eq!(info["systeminfo"]["octoprint.version"], "1.11.8", "{info}");
    assert_eq!(info["systeminfo"]["systeminfo.generator"], "systemapi");
    let usage = admin.ok("/api/system/usage").await;
    assert!(usage["usage"]["uploads"].is_object(), "{usage}");
    let wizard = admin.ok("/api/setup/wizard").await;
    assert_eq!(wizard["corewizard"]["required"], false, "{wizard}");
    let templates = admin.ok("/api/settings/templates").await;
    assert!(templates["order"]["navbar"].is_array(), "{templates}");
    let languages = admin.ok("/api/languages").await;
    assert_eq!(languages["language_packs"]["_core"]["identifier"], "_core");

    // Timelapse listings are for every reader; slicing for those who may slice.
    let timelapse = viewer.ok("/api/timelapse").await;
    assert_eq!(timelapse["files"], json!([]));
    assert!(timelapse.get("unrendered").is_none());
    let timelapse = viewer.ok("/api/timelapse?unrendered=true").await;
    assert_eq!(timelapse["unrendered"], json!([]));
    assert_eq!(anonymous.get("/api/timelapse").await.0, 403);
    assert_eq!(viewer.get("/api/slicing").await.0, 403);
    assert_eq!(operator.ok("/api/slicing").await, json!({}));
}

#[tokio::test]
async fn the_web_paths_clients_probe_answer_as_octoprint_does() {
    let server = Server::start(ONE_PRINTER);
    let base = server.url("/octoprint/v1");
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let fetch = |path: &str, key: Option<&str>| {
        let mut request = plain.get(format!("{base}{path}"));
        if let Some(key) = key {
            request = request.header("X-Api-Key", key);
        }
        async move {
            let r = request.send().await.unwrap();
            let status = r.status().as_u16();
            let header = |name: &str| {
                r.headers()
                    .get(name)
                    .map(|v| v.to_str().unwrap().to_string())
                    .unwrap_or_default()
            };
            let (kind, location) = (header("content-type"), header("location"));
            (status, kind, location, r.bytes().await.unwrap().to_vec())
        }
    };
    let (status, kind, _, body) = fetch("/online.txt", None).await;
    assert_eq!((status, &body[..]), (200, &b"online\n"[..]));
    assert!(kind.starts_with("text/plain"), "{kind}");
    for path in ["/online.gif", "/cached.gif"] {
        let (status, kind, _, body) = fetch(path, None).await;
        assert_eq!((status, kind.as_str()), (200, "image/gif"), "{path}");
        assert!(body.starts_with(b"GIF89a"), "{path}");
    }
    let (_, _, _, body) = fetch("/robots.txt", None).await;
    assert!(String::from_utf8(body).unwrap().contains("Disallow: /"));
    // The interface: anonymous visitors go to the login page; a key holder sees the page.
    let (status, _, location, _) = fetch("/", None).await;
    assert_eq!(status, 302);
    assert!(
        location.contains("/octoprint/v1/login/?redirect="),
        "{location}"
    );
    let key = server.admin_key.clone();
    let (status, kind, _, _) = fetch("/", Some(&key)).await;
    assert_eq!(status, 200);
    assert!(kind.starts_with("text/html"), "{kind}");
    let (status, _, _, _) = fetch("/login/", None).await;
    assert_eq!(status, 200);
    let (status, _, location, _) = fetch("/login", Some(&key)).await;
    assert_eq!(status, 302);
    assert!(location.ends_with("/octoprint/v1/"), "{location}");
    let (status, _, _, body) = fetch("/reverse_proxy_test/", None).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8(body).unwrap().contains("/octoprint/v1/"));
    let (status, kind, _, body) = fetch("/plugin/discovery/discovery.xml", None).await;
    assert_eq!((status, kind.as_str()), (200, "application/xml"));
    let xml = String::from_utf8(body).unwrap();
    let settings: Value = Octo::new(&server, "v1", Some(&key))
        .ok("/api/settings")
        .await;
    let uuid = settings["plugins"]["discovery"]["upnpUuid"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(xml.contains(&format!("<UDN>uuid:{uuid}</UDN>")), "{xml}");
}

#[tokio::test]
async fn jog_and_extrude_wait_while_printing_and_work_while_paused() {
    let server = Server::start(&virtual_printers(1, 1));
    wait_state(&server, "v1", "operational").await;
    let (_, operator, _) = clients(&server).await;
    print(&server, &operator, "slow.gcode", 300).await;
    let jog = json!({"command": "jog", "x": 1});
    let extrude = json!({"command": "extrude", "amount": 1});
    let (status, body) = operator.post("/api/printer/printhead", jog.clone()).await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = operator.post("/api/printer/tool", extrude.clone()).await;
    assert_eq!(status, 409);
    operator
        .command("/api/job", json!({"command": "pause", "action": "pause"}))
        .await;
    wait_state(&server, "v1", "paused").await;
    operator.command("/api/printer/printhead", jog).await;
    operator.command("/api/printer/tool", extrude).await;
    operator
        .command("/api/job", json!({"command": "cancel"}))
        .await;
}

#[tokio::test]
async fn a_printer_answers_with_temperatures_from_its_first_operational_answer() {
    let server = Server::start(ONE_PRINTER);
    let viewer = Octo::new(&server, "v1", Some(&server.admin_key));
    // Polled as fast as a client could: the first 200 must already carry readings.
    let first = wait_for("v1 operational", 60, async || {
        let (status, body) = viewer.get("/api/printer").await;
        (status == 200).then_some(body)
    })
    .await;
    let temps = &first["temperature"];
    assert!(temps["tool0"]["actual"].is_number(), "{first}");
    assert!(temps["bed"]["actual"].is_number(), "{first}");
}

#[tokio::test]
async fn restart_of_a_paused_print_always_starts_it_again() {
    let server = Server::start(&virtual_printers(1, 1));
    wait_state(&server, "v1", "operational").await;
    let (_, operator, _) = clients(&server).await;
    print(&server, &operator, "slow.gcode", 600).await;
    // The printer reports itself idle a moment before the farm has recorded the cancelled
    // print's end; each restart must wait for that rather than answer 409 with the job gone.
    for round in 0..4 {
        wait_state(&server, "v1", "printing").await;
        operator
            .command("/api/job", json!({"command": "pause", "action": "pause"}))
            .await;
        wait_state(&server, "v1", "paused").await;
        let (status, body) = operator
            .post("/api/job", json!({"command": "restart"}))
            .await;
        assert_eq!(status, 204, "round {round}: {body}");
        let job = operator.ok("/api/job").await;
        assert_eq!(
            job["job"]["file"]["name"], "slow.gcode",
            "round {round}: {job}"
        );
    }
    wait_state(&server, "v1", "printing").await;
    operator
        .command("/api/job", json!({"command": "cancel"}))
        .await;
}

#[tokio::test]
async fn a_password_login_answers_the_users_key_and_an_anonymous_passive_one_a_guest() {
    let server = Server::start(ONE_PRINTER);
    server.create_user_key("olga", "operator").await;
    // A login without a key is a change from a web page: it carries OctoPrint's CSRF token.
    let anonymous = Octo::browser(&server, "v1").await;
    let (status, guest) = anonymous.post("/api/login", json!({"passive": true})).await;
    assert_eq!(status, 200, "{guest}");
    assert_eq!(guest["needs"]["group"], json!(["guests"]));

    // Phone apps log in with a password once and keep the key the answer carries.
    let login = json!({"user": "olga", "pass": "long enough"});
    let (status, first) = anonymous.post("/api/login", login.clone()).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["_login_mechanism"], "password");
    let key = first["apikey"].as_str().expect("a key").to_string();
    let (_, again) = anonymous.post("/api/login", login).await;
    assert_eq!(
        again["apikey"],
        key.as_str(),
        "one key per user, as OctoPrint"
    );
    let me = Octo::new(&server, "v1", Some(&key))
        .ok("/api/currentuser")
        .await;
    assert_eq!(me["name"], "olga");
    let (status, _) = anonymous
        .post("/api/login", json!({"user": "olga", "pass": "wrong"}))
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn printer_profiles_are_read_by_operators_and_changed_by_admins() {
    let server = Server::start(ONE_PRINTER);
    let (viewer, operator, admin) = clients(&server).await;
    assert_eq!(viewer.get("/api/printerprofiles").await.0, 403);
    let listed = operator.ok("/api/printerprofiles").await;
    assert_eq!(listed["profiles"]["_default"]["current"], true, "{listed}");
    let own = operator.ok("/api/printerprofiles/_default").await;
    assert_eq!(own["id"], "_default");
    assert_eq!(operator.get("/api/printerprofiles/nope").await.0, 404);

    let new = json!({"profile": {"id": "spare", "name": "Spare", "volume": {"width": 300}}});
    assert_eq!(
        operator.post("/api/printerprofiles", new.clone()).await.0,
        403
    );
    let (status, created) = admin.post("/api/printerprofiles", new.clone()).await;
    assert_eq!(status, 200, "{created}");
    let spare = &created["profile"];
    assert_eq!(
        (spare["id"].as_str(), spare["current"].as_bool()),
        (Some("spare"), Some(false))
    );
    // Unset keys come from the printer's own profile.
    assert_eq!(spare["volume"]["width"], 300);
    assert_eq!(spare["volume"]["depth"], own["volume"]["depth"]);
    assert_eq!(admin.post("/api/printerprofiles", new).await.0, 409);
    let (status, answer) = admin.post("/api/printerprofiles", json!({})).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("profile is missing"))
    );

    let patch = |id: &str, body: Value| {
        admin
            .client
            .patch(format!("{}/api/printerprofiles/{id}", admin.base))
            .json(&body)
    };
    let (status, changed, _) = send(patch("spare", json!({"profile": {"name": "Spare 2"}}))).await;
    assert_eq!(
        (status, changed["profile"]["name"].as_str()),
        (200, Some("Spare 2"))
    );
    assert_eq!(
        operator.ok("/api/printerprofiles/spare").await["name"],
        "Spare 2"
    );

    let delete = |who: &Octo, id: &str| {
        who.client
            .delete(format!("{}/api/printerprofiles/{id}", who.base))
    };
    let (status, answer, _) = send(delete(&admin, "_default")).await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(send(delete(&operator, "spare")).await.0, 403);
    assert_eq!(send(delete(&admin, "spare")).await.0, 204);
    assert_eq!(operator.get("/api/printerprofiles/spare").await.0, 404);
}

#[tokio::test]
async fn settings_carry_every_key_of_octoprints_and_only_admins_save() {
    let server = Server::start(ONE_PRINTER);
    let (viewer, operator, admin) = clients(&server).await;
    let seen = viewer.ok("/api/settings").await;
    for key in [
        "api",
        "appearance",
        "controls",
        "devel",
        "feature",
        "folder",
        "gcodeAnalysis",
        "plugins",
        "scripts",
        "serial",
        "server",
        "slicing",
        "system",
        "temperature",
        "terminalFilters",
        "webcam",
    ] {
        assert!(seen.get(key).is_some(), "no `{key}` in {seen}");
    }
    assert!(seen.get("accessControl").is_none(), "admins only");
    assert!(
        seen["serial"]["timeoutCommunication"].is_number(),
        "{}",
        seen["serial"]
    );
    // The farm's own values go over OctoPrint's defaults.
    assert_eq!(seen["serial"]["port"], "virtual");
    assert_eq!(seen["api"]["key"], Value::Null, "a viewer never sees a key");
    assert!(admin
        .ok("/api/settings")
        .await
        .get("accessControl")
        .is_some());

    assert_eq!(operator.post("/api/settings", json!({})).await.0, 403);
    let (status, saved) = admin.post("/api/settings", json!({"appearance": {}})).await;
    assert_eq!(status, 200);
    assert!(saved["serial"].is_object(), "{saved}");
    let (status, _) = admin.post("/api/settings", json!([])).await;
    assert_eq!(status, 400);

    // Logout answers the anonymous user.
    let (status, out) = operator.post("/api/logout", json!({})).await;
    assert_eq!((status, &out["needs"]["group"]), (200, &json!(["guests"])));
}

#[tokio::test]
async fn the_access_model_and_the_upload_dialogs_name_check_answer_as_octoprint() {
    let server = Server::start(ONE_PRINTER);
    let (viewer, operator, admin) = clients(&server).await;
    let anonymous = Octo::new(&server, "v1", None);
    let permissions = anonymous.ok("/api/access/permissions").await;
    let keys: Vec<&str> = permissions["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["key"].as_str().unwrap())
        .collect();
    for key in [
        "ADMIN",
        "STATUS",
        "CONTROL",
        "FILES_UPLOAD",
        "PRINT",
        "SETTINGS",
    ] {
        assert!(keys.contains(&key), "{key} in {keys:?}");
    }
    assert_eq!(operator.get("/api/access/groups").await.0, 403);
    let groups = admin.ok("/api/access/groups").await;
    assert_eq!(groups["groups"][0]["key"], "admins", "{groups}");
    let me = operator.ok("/api/access/users/olga").await;
    assert_eq!(
        (me["name"].as_str(), me["admin"].as_bool()),
        (Some("olga"), Some(false))
    );
    assert_eq!(me["groups"], json!(["users"]));
    assert_eq!(operator.get("/api/access/users/vera").await.0, 403);
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = plain
        .get(format!("{}/api/users/olga", viewer.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307);
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .ends_with("/api/access/users/olga"));

    server.upload_gcode("cube.gcode", gcode(3)).await;
    let (status, sane) = viewer
        .post(
            "/api/files/test",
            json!({"command": "sanitize", "storage": "local", "path": "parts/", "filename": "cube.gcode"}),
        )
        .await;
    assert_eq!(
        (status, sane["sanitized"].as_str()),
        (200, Some("parts/cube.gcode"))
    );
    let exists =
        |name: &str| json!({"command": "exists", "storage": "local", "path": "", "filename": name});
    let (status, taken) = viewer.post("/api/files/test", exists("cube.gcode")).await;
    assert_eq!(status, 200);
    assert_eq!(
        (taken["exists"].as_bool(), taken["suggestion"].as_str()),
        (Some(true), Some("cube_1.gcode")),
        "{taken}"
    );
    assert!(taken["size"].as_u64().unwrap() > 0);
    let (_, free) = viewer.post("/api/files/test", exists("new.gcode")).await;
    assert_eq!(free, json!({"exists": false}));
    let (status, _) = viewer
        .post("/api/files/test", json!({"command": "exists"}))
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn commands_are_parsed_before_permissions_and_unselect_follows_octoprints_rules() {
    let server = Server::start(ONE_PRINTER);
    wait_state(&server, "v1", "operational").await;
    let (viewer, operator, _) = clients(&server).await;
    // A viewer's malformed command is a 400 (as for anyone); a well-formed one a 403.
    let (status, _) = viewer.post("/api/job", json!({"command": "bogus"})).await;
    assert_eq!(status, 400);
    let (status, _) = viewer.post("/api/job", json!({"command": "cancel"})).await;
    assert_eq!(status, 403);
    server.upload_gcode("cube.gcode", gcode(3)).await;
    let cube = "/api/files/local/cube.gcode";
    let (status, answer) = viewer.post(cube, json!({"command": "move"})).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("Mandatory parameters missing"))
    );
    let (status, _) = viewer.post(cube, json!({"command": "select"})).await;
    assert_eq!(status, 403);

    let (status, answer) = operator.post(cube, json!({"command": "unselect"})).await;
    assert_eq!(status, 409, "nothing selected: {answer}");
    operator.command(cube, json!({"command": "select"})).await;
    let (status, _) = operator
        .post(
            "/api/files/local/missing.gcode",
            json!({"command": "unselect"}),
        )
        .await;
    assert_eq!(status, 400, "only the selected file");
    operator.command(cube, json!({"command": "unselect"})).await;
    let (status, answer) = operator.post(cube, json!({"command": "slice"})).await;
    assert_eq!(status, 415, "{answer}");
}

#[tokio::test]
async fn the_bundled_plugins_clients_probe_answer_with_octoprints_permissions() {
    let server = Server::start(ONE_PRINTER);
    let (viewer, operator, admin) = clients(&server).await;
    for (path, key) in [
        ("/api/plugin/pluginmanager", "plugins"),
        ("/plugin/pluginmanager/plugins", "plugins"),
        ("/plugin/logging/logs", "files"),
        ("/plugin/backup/", "backups"),
        ("/plugin/announcements/channels", "channels"),
        ("/api/plugin/health_check", "health"),
    ] {
        assert_eq!(operator.get(path).await.0, 403, "{path}");
        let body = admin.ok(path).await;
        assert!(body.get(key).is_some(), "{path}: {body}");
    }
    let achievements = viewer.ok("/plugin/achievements/").await;
    assert!(achievements["achievements"].is_array());
    assert_eq!(achievements["stats"]["prints_started"], 0, "{achievements}");
    assert_eq!(achievements["timezone"]["name"], "UTC");
    let versions = viewer.ok("/plugin/pluginmanager/plugins/versions").await;
    assert!(versions.get("gcodeviewer").is_some() && versions.get("appkeys").is_some());
    assert_eq!(viewer.get("/plugin/softwareupdate/check").await.0, 403);
    assert_eq!(
        operator.ok("/plugin/softwareupdate/check").await["status"],
        "current"
    );
    assert_eq!(
        operator.ok("/api/plugin/action_command_notification").await,
        json!({"notifications": []})
    );
    let (status, _) = operator
        .post(
            "/api/plugin/action_command_prompt",
            json!({"command": "select", "choice": 0}),
        )
        .await;
    assert_eq!(status, 409, "no prompt is open");
    let (status, _) = operator
        .post("/api/plugin/no_such_plugin", json!({"command": "x"}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(operator.get("/api/plugin/no_such_plugin").await.0, 404);

    // Downloads of OctoPrint's own files: its permissions, nothing to download on a farm.
    assert_eq!(operator.get("/downloads/logs").await.0, 403);
    assert_eq!(admin.get("/downloads/logs").await.0, 400);
    assert_eq!(viewer.get("/downloads/logs/octoprint.log").await.0, 403);
    assert_eq!(viewer.get("/downloads/systeminfo.zip").await.0, 403);
    assert_eq!(viewer.get("/downloads/timelapses").await.0, 400);
    let anonymous = Octo::new(&server, "v1", None);
    assert_eq!(anonymous.get("/downloads/timelapses").await.0, 403);
    assert_eq!(
        anonymous.get("/downloads/files/sdcard/x.gcode").await.0,
        404
    );

    // The settings dialogs' checks: admins only; the address check answers the caller's.
    let check = json!({"command": "address"});
    assert_eq!(operator.post("/api/util/test", check.clone()).await.0, 403);
    let (status, address) = admin.post("/api/util/test", check).await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            address["address"].as_str(),
            address["is_lan_address"].as_bool()
        ),
        (Some("127.0.0.1"), Some(true)),
        "{address}"
    );
    let (status, answer) = admin
        .post("/api/util/test", json!({"command": "url"}))
        .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("Mandatory parameters missing"))
    );
    let (_, path) = admin
        .post("/api/util/test", json!({"command": "path", "path": "/etc"}))
        .await;
    assert_eq!(
        path["result"], false,
        "a plugin cannot see the host's files: {path}"
    );
}

#[tokio::test]
async fn file_entries_carry_their_uploader_userdata_and_print_results() {
    let server = Server::start(ONE_PRINTER);
    wait_state(&server, "v1", "operational").await;
    let (viewer, operator, _) = clients(&server).await;
    let form = Form::new()
        .part("file", file_part("bench.gcode", gcode(5)))
        .text("userdata", r#"{"from": "slicer"}"#)
        .text("print", "true");
    let (status, body, _) = operator.upload(form).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["userdata"], json!({"from": "slicer"}));
    let entry = wait_for("a print result", 60, async || {
        let entry = viewer.ok("/api/files/local/bench.gcode").await;
        (entry["prints"]["success"] == 1).then_some(entry)
    })
    .await;
    assert_eq!(entry["user"], "olga", "{entry}");
    assert_eq!(entry["userdata"], json!({"from": "slicer"}));
    assert_eq!(entry["prints"]["failure"], 0);
    assert_eq!(entry["prints"]["last"]["success"], true);
    assert!(
        entry["statistics"]["lastPrintTime"]["_default"].is_number(),
        "{entry}"
    );
    // Listings carry the same; a folder has its date and empty print counts.
    let listed = viewer.ok("/api/files/local").await;
    let bench = listed["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "bench.gcode")
        .unwrap();
    assert_eq!(bench["prints"]["success"], 1);
    let (status, _, _) = operator
        .upload(Form::new().text("foldername", "parts"))
        .await;
    assert_eq!(status, 201);
    let folder = viewer.ok("/api/files/local/parts").await;
    assert!(folder["date"].is_number(), "{folder}");
    assert_eq!(folder["prints"], json!({"failure": 0, "success": 0}));
}

#[tokio::test]
async fn a_disconnect_mid_print_cancels_the_print_then_closes_the_port_as_octoprint_does() {
    let server = Server::start(&virtual_printers(1, 1));
    wait_state(&server, "v1", "operational").await;
    let (_, operator, _) = clients(&server).await;
    print(&server, &operator, "long.gcode", 300).await;
    operator
        .command("/api/connection", json!({"command": "disconnect"}))
        .await;
    // Answered at once; the port closes once the cancel has ended the print.
    wait_state(&server, "v1", "offline").await;
    let history = server.get_json("/farm/api/history?printer=v1").await;
    assert_eq!(history[0]["outcome"], "cancelled", "{history}");
}
