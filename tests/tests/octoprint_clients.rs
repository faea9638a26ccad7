//! Real OctoPrint client libraries against the real server: PyPI's `pyoctoprintapi` (what Home
//! Assistant's integration runs) on a path mount and `octorest` on a per-printer port, installed
//! into a fresh virtualenv. Each library runs a Python script doing what its users do and
//! printing one JSON object of results; the assertions are made here.
//!
//! Needs `python3` with `venv` and pip access to PyPI; a failed install fails the test with pip's
//! output. Both libraries get their key through the app-keys workflow (auto-approved by config).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use printfarm_e2e::*;
use serde_json::Value;

/// Home Assistant's calls through `pyoctoprintapi`. Arguments: host, port, G-code file to print.
const HA_SCRIPT: &str = r##"
import asyncio, json, sys, time
import aiohttp
from pyoctoprintapi import OctoprintClient
from pyoctoprintapi.exceptions import PrinterOffline

host, port, gcode_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
out = {}

async def wait(what, check, secs=40):
    deadline = time.monotonic() + secs
    while True:
        try:
            v = await check()
        except Exception:
            v = None
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError("timed out waiting for " + what)
        await asyncio.sleep(0.2)

async def main():
    async with aiohttp.ClientSession() as session:
        # HA's config flow: probe, request, poll (approved by config), then the key.
        c = OctoprintClient(host, session, port, False, "/octoprint/v1/")
        key = await c.request_app_key("Home Assistant", "admin", 5)
        out["app_key"] = key
        c.set_api_key(key)

        server = await c.get_server_info()
        out["server"] = {"version": server.version, "safemode": server.safe_mode}
        disc = await c.get_discovery_info()
        out["upnp_uuid"] = disc.upnp_uuid if disc else None
        tracking = await c.get_tracking_info()
        out["tracking"] = tracking is not None
        webcam = await c.get_webcam_info()
        out["webcam_enabled"] = webcam.enabled if webcam else None

        p = await c.get_printer_info()
        out["printer"] = {
            "text": p.state.text,
            "operational": p.state.flags.operational,
            "printing": p.state.flags.printing,
            "tools": sorted(t.name for t in p.temperatures),
            "heated_bed": p.has_heated_bed,
        }
        j = await c.get_job_info()
        out["idle_job_state"] = j.state

        # Temperatures (HA's number entities).
        await c.set_bed_temperature(55)
        await c.set_tool_temperature("tool0", 190)
        async def targets():
            p = await c.get_printer_info()
            t = {x.name: x.target_temp for x in p.temperatures}
            return t if t.get("bed") == 55 and t.get("tool0") == 190 else None
        out["targets"] = await wait("targets", targets)
        await c.turn_bed_off()
        await c.turn_tool_off("tool0")

        # The second printer is absent: HA treats PrinterOffline as "offline".
        off = OctoprintClient(host, session, port, False, "/octoprint/gone/")
        off.set_api_key(key)
        try:
            await off.get_printer_info()
            out["offline_error"] = None
        except PrinterOffline as e:
            out["offline_error"] = type(e).__name__
        out["offline_job_state"] = (await off.get_job_info()).state

        # A print to control (HA itself does not upload: plain aiohttp here).
        form = aiohttp.FormData()
        form.add_field("print", "true")
        form.add_field("file", open(gcode_path, "rb"), filename="ha.gcode",
                       content_type="application/octet-stream")
        r = await session.post(f"http://{host}:{port}/octoprint/v1/api/files/local",
                               data=form, headers={"X-Api-Key": key})
        out["upload_status"] = r.status
        async def flag(name):
            p = await c.get_printer_info()
            return getattr(p.state.flags, name)
        await wait("printing", lambda: flag("printing"))
        j = await c.get_job_info()
        out["printing_job"] = {"state": j.state, "name": j.job.file.name,
                               "origin": j.job.file.origin, "size": j.job.file.size}
        await c.pause_job()
        await wait("paused", lambda: flag("paused"))
        out["paused_state"] = (await c.get_job_info()).state
        await c.resume_job()
        await wait("printing again", lambda: flag("printing"))
        await c.cancel_job()
        async def idle():
            p = await c.get_printer_info()
            return p.state.flags.operational and not p.state.flags.printing \
                and not p.state.flags.cancelling
        await wait("cancelled", idle)
        out["after_cancel_state"] = (await c.get_job_info()).state

        # Disconnect and connect (HA's services; it sends the profile in lower case).
        await c.disconnect()
        async def offline():
            try:
                await c.get_printer_info()
                return False
            except PrinterOffline:
                return True
        out["disconnected"] = await wait("offline", offline)
        await c.connect()
        out["reconnected"] = await wait("operational", lambda: flag("operational"))

asyncio.run(main())
print(json.dumps(out))
"##;

/// `octorest` on a per-printer port. Arguments: URL, G-code file.
const OR_SCRIPT: &str = r##"
import json, os, sys, time
from octorest import OctoRest, WorkflowAppKeyRequestResult

url, gcode_path = sys.argv[1], sys.argv[2]
out = {}

def wait(what, check, secs=40):
    deadline = time.monotonic() + secs
    while True:
        try:
            v = check()
        except Exception:
            v = None
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError("timed out waiting for " + what)
        time.sleep(0.2)

def attempt(fn):
    try:
        return {"ok": fn()}
    except Exception as e:
        return {"error": str(e)}

# The app-keys workflow on the port's root (auto-approved by config).
anon = OctoRest(url=url)
out["probe"] = anon.probe_app_keys_workflow_support()
result, key = anon.try_get_api_key("octorest", None, timeout=5)
out["appkey_result"] = result.name
out["app_key"] = key

c = OctoRest(url=url, apikey=key)
out["version"] = c.version
conn = c.connection_info()
out["connection"] = conn["current"]
out["profiles_offered"] = [p["id"] for p in conn["options"]["printerProfiles"]]
out["state"] = c.state()
p = c.printer()
out["printer_flags"] = p["state"]["flags"]
out["printer_temps"] = sorted(p["temperature"].keys())
slim = c.printer(exclude=["sd", "temperature"])
out["printer_excluded"] = sorted(slim.keys())
out["sd"] = c.sd()

c.tool_target(200)
c.bed_target(60)
def targets():
    t = c.printer()["temperature"]
    return t if t["tool0"]["target"] == 200 and t["bed"]["target"] == 60 else None
out["targets"] = {k: v["target"] for k, v in wait("targets", targets).items() if k in ("tool0", "bed")}
c.tool_target(0)
c.bed_target(0)

c.home()
c.jog(x=10, y=5, z=1)
c.gcode("M105")
c.gcode("G91\nG1 X1\nG90")
out["head_commands"] = "ok"

up = c.upload(gcode_path)
out["upload"] = {"done": up.get("done"), "name": up["files"]["local"]["name"],
                 "effectivePrint": up.get("effectivePrint")}
files = c.files()
out["files"] = sorted(f["name"] for f in files["files"])
out["files_free_is_int"] = isinstance(files.get("free"), int)
out["local_files"] = sorted(f["name"] for f in c.files("local")["files"])
out["file_info"] = c.files_info("local", "or.gcode")["name"]
out["new_folder"] = attempt(lambda: c.new_folder("parts"))
out["copy"] = attempt(lambda: c.copy("or.gcode", "or-copy.gcode"))
out["move"] = attempt(lambda: c.move("or-copy.gcode", "or-moved.gcode"))
out["after_copy_move"] = sorted(f["name"] for f in c.files("local")["files"])
out["delete"] = attempt(lambda: c.delete("or-moved.gcode"))

def flags():
    return c.printer()["state"]["flags"]
c.select("or.gcode")
out["selected"] = c.job_info()["job"]["file"]["name"]
c.start()
wait("printing", lambda: flags()["printing"])
job = c.job_info()
out["job"] = {"state": job["state"], "name": job["job"]["file"]["name"],
              "completion_is_number": isinstance(job["progress"]["completion"], (int, float))}
c.pause()
wait("paused", lambda: flags()["paused"])
out["paused_state"] = c.state()
c.resume()
wait("printing again", lambda: flags()["printing"])
c.cancel()
wait("cancelled", lambda: flags()["operational"] and not flags()["printing"] and not flags()["cancelling"])
out["after_cancel"] = c.job_info()["state"]

c.disconnect()
out["disconnected_state"] = wait("offline", lambda: c.state() if c.state() in ("Offline", "Closed") else None)
c.connect()
out["reconnected_state"] = wait("operational", lambda: c.state() if c.state() == "Operational" else None)

out["printer_profiles"] = sorted(c.printer_profiles()["profiles"].keys())
out["system_commands"] = sorted(c.system_commands().keys())
out["settings_has_api"] = "api" in c.settings()
print(json.dumps(out))
"##;

fn output_text(out: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A virtualenv in `dir` with both client libraries; its python.
fn venv(dir: &Path) -> PathBuf {
    let venv = dir.join("venv");
    let out = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .expect("running python3 -m venv");
    assert!(
        out.status.success(),
        "python3 -m venv failed:\n{}",
        output_text(&out)
    );
    let out = Command::new(venv.join("bin").join("pip"))
        .args([
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "pyoctoprintapi",
            "octorest",
        ])
        .output()
        .expect("running pip");
    assert!(
        out.status.success(),
        "pip install failed:\n{}",
        output_text(&out)
    );
    venv.join("bin").join("python")
}

/// Starts `script` (written to `dir/name`) with `args`; returns the running process.
fn spawn_script(
    python: &Path,
    dir: &Path,
    name: &str,
    script: &str,
    args: &[&str],
) -> std::process::Child {
    let path = dir.join(name);
    std::fs::write(&path, script).unwrap();
    Command::new(python)
        .arg(&path)
        .args(args)
        .env("NO_PROXY", "*")
        .env("no_proxy", "*")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting python")
}

fn finish(name: &str, child: std::process::Child) -> Value {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{name} failed:\n{}",
        output_text(&out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("{name} printed no JSON ({e}):\n{}", output_text(&out)))
}

#[test]
fn pyoctoprintapi_and_octorest_work_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    // The install dominates the test's time; start the server meanwhile.
    let installer = {
        let d = dir.path().to_path_buf();
        std::thread::spawn(move || venv(&d))
    };
    let server = Server::start_with(|| {
        format!(
            r#"
[[printers]]
id = "v1"
port = "virtual"
virtual-speed = 1

[[printers]]
id = "v2"
port = "virtual"
virtual-speed = 1

[[printers]]
id = "gone"
port = "/dev/printfarm-absent-0"

[plugins.octoprint]
first-port = {}

[plugins.octoprint.config]
appkeys-auto-approve-user = "admin"
appkeys-auto-approve-networks = ["127.0.0.0/8", "::1"]
"#,
            free_port()
        )
    });
    let first_port: u16 = std::fs::read_to_string(server.dir.path().join("printfarm.toml"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("first-port = "))
        .and_then(|p| p.trim().parse().ok())
        .expect("first-port in the config");
    let python = installer.join().expect("venv installation");

    let ha_gcode = dir.path().join("ha.gcode");
    std::fs::write(&ha_gcode, gcode(90)).unwrap();
    let or_gcode = dir.path().join("or.gcode");
    std::fs::write(&or_gcode, gcode(90)).unwrap();
    let port = server.port.to_string();
    // v1 for Home Assistant through the path mount, v2 for octorest on its own port (printer
    // k is served on first-port + k): they run side by side.
    let ha = spawn_script(
        &python,
        dir.path(),
        "ha.py",
        HA_SCRIPT,
        &["127.0.0.1", &port, ha_gcode.to_str().unwrap()],
    );
    let or_url = format!("http://127.0.0.1:{}/ignored/path", first_port + 1);
    let or = spawn_script(
        &python,
        dir.path(),
        "or.py",
        OR_SCRIPT,
        &[&or_url, or_gcode.to_str().unwrap()],
    );
    let ha = finish("pyoctoprintapi script", ha);
    let or = finish("octorest script", or);

    // --- pyoctoprintapi (Home Assistant)
    let key = ha["app_key"].as_str().expect("an app key");
    assert_ne!(key, server.admin_key);
    assert!(
        ha["server"]["version"].as_str().unwrap().starts_with("1."),
        "{ha}"
    );
    assert!(ha["upnp_uuid"].is_string(), "{ha}");
    assert_eq!(ha["printer"]["operational"], true, "{ha}");
    assert_eq!(ha["printer"]["printing"], false, "{ha}");
    assert_eq!(ha["printer"]["heated_bed"], true, "{ha}");
    assert!(ha["printer"]["tools"].to_string().contains("tool0"), "{ha}");
    assert_eq!(ha["idle_job_state"], "Operational", "{ha}");
    assert_eq!(ha["targets"]["bed"], 55.0, "{ha}");
    assert_eq!(ha["targets"]["tool0"], 190.0, "{ha}");
    assert_eq!(ha["offline_error"], "PrinterOffline", "{ha}");
    assert_eq!(ha["offline_job_state"], "Offline", "{ha}");
    assert_eq!(ha["upload_status"], 201, "{ha}");
    assert_eq!(ha["printing_job"]["state"], "Printing", "{ha}");
    assert_eq!(ha["printing_job"]["name"], "ha.gcode", "{ha}");
    assert_eq!(ha["printing_job"]["origin"], "local", "{ha}");
    assert_eq!(ha["paused_state"], "Paused", "{ha}");
    assert_eq!(ha["after_cancel_state"], "Operational", "{ha}");
    assert_eq!(ha["disconnected"], true, "{ha}");
    assert_eq!(ha["reconnected"], true, "{ha}");

    // --- octorest
    assert_eq!(or["probe"], true, "{or}");
    assert_eq!(or["appkey_result"], "GRANTED", "{or}");
    assert!(or["app_key"].is_string(), "{or}");
    assert!(
        or["version"]["text"]
            .as_str()
            .unwrap()
            .starts_with("OctoPrint"),
        "{or}"
    );
    assert_eq!(or["connection"]["state"], "Operational", "{or}");
    assert_eq!(or["state"], "Operational", "{or}");
    assert!(
        !or["profiles_offered"].as_array().unwrap().is_empty(),
        "{or}"
    );
    assert_eq!(or["printer_flags"]["operational"], true, "{or}");
    assert!(or["printer_temps"].to_string().contains("tool0"), "{or}");
    assert_eq!(or["printer_excluded"], serde_json::json!(["state"]), "{or}");
    assert!(or["sd"]["ready"].is_boolean(), "{or}");
    assert_eq!(or["targets"]["tool0"], 200.0, "{or}");
    assert_eq!(or["targets"]["bed"], 60.0, "{or}");
    assert_eq!(or["head_commands"], "ok");
    // octorest sends only the `file` part: nothing selected, nothing printed.
    assert_eq!(or["upload"]["done"], true, "{or}");
    assert_eq!(or["upload"]["name"], "or.gcode", "{or}");
    assert_eq!(or["upload"]["effectivePrint"], false, "{or}");
    assert!(or["files"].to_string().contains("or.gcode"), "{or}");
    assert_eq!(or["files_free_is_int"], true, "{or}");
    assert!(or["local_files"].to_string().contains("or.gcode"), "{or}");
    assert_eq!(or["file_info"], "or.gcode", "{or}");
    // Its folder creation sends JSON: 400, as on OctoPrint.
    assert!(
        or["new_folder"]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("(400)"),
        "{or}"
    );
    assert!(or["copy"].get("ok").is_some(), "{or}");
    assert!(or["move"].get("ok").is_some(), "{or}");
    let after = or["after_copy_move"].to_string();
    assert!(
        after.contains("or-moved.gcode") && !after.contains("or-copy.gcode"),
        "{or}"
    );
    assert!(or["delete"].get("ok").is_some(), "{or}");
    assert_eq!(or["selected"], "or.gcode", "{or}");
    assert_eq!(or["job"]["state"], "Printing", "{or}");
    assert_eq!(or["job"]["name"], "or.gcode", "{or}");
    assert_eq!(or["job"]["completion_is_number"], true, "{or}");
    assert_eq!(or["paused_state"], "Paused", "{or}");
    assert_eq!(or["after_cancel"], "Operational", "{or}");
    assert!(or["disconnected_state"].is_string(), "{or}");
    assert_eq!(or["reconnected_state"], "Operational", "{or}");
    assert!(
        !or["printer_profiles"].as_array().unwrap().is_empty(),
        "{or}"
    );
    assert_eq!(
        or["system_commands"],
        serde_json::json!(["core", "custom", "plugin"]),
        "{or}"
    );
    assert_eq!(or["settings_has_api"], true, "{or}");

    // Both keys are real farm keys of the auto-approve user.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for k in [key, or["app_key"].as_str().unwrap()] {
        let user: Value = runtime.block_on(async {
            client_with_key(k)
                .get(server.url("/octoprint/v1/api/currentuser"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap()
        });
        assert_eq!(user["name"], "admin", "{user}");
    }
}
