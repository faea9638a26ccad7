//! Passthru: the server's web app calls OctoPrint's printer and file manager through the agent
//! (`{"passthru": {"ref", "target", "func", "args", "kwargs"}}`), and gets `ret` or `error`
//! back. These are the OctoPrint-style calls the web app makes (G-code commands, connect,
//! connection options, select and print a file, list files, jog, home, temperatures), mapped to
//! the farm's printers and library. Anything else gets a clear `error`, never silence.

use printfarm_sdk::{files, printers, HostError};
use serde_json::{json, Map, Value};

/// Answers one call: `{"ref", "ret"}` or `{"ref", "error"}`.
pub fn call(printer: &str, call: &Value) -> Value {
    let reference = call.get("ref").cloned().unwrap_or(Value::Null);
    let target = call
        .get("target")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let func = call.get("func").and_then(Value::as_str).unwrap_or_default();
    let args = Args {
        positional: call
            .get("args")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        named: call
            .get("kwargs")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
    };
    let result = match target {
        "_printer" => printer_call(printer, func, &args),
        "_file_manager" => file_manager_call(func, &args),
        "" => Err("the passthru call names no target".to_string()),
        other => Err(format!(
            "printfarm's Obico agent has no passthru target `{other}` (it offers `_printer` and `_file_manager`, as OctoPrint does)"
        )),
    };
    match result {
        Ok(ret) => json!({"ref": reference, "ret": ret}),
        Err(error) => json!({"ref": reference, "error": error}),
    }
}

/// A call's arguments, read by position or by name as Python would bind them.
struct Args {
    positional: Vec<Value>,
    named: Map<String, Value>,
}

impl Args {
    fn get(&self, index: usize, name: &str) -> Option<&Value> {
        self.named
            .get(name)
            .or_else(|| self.positional.get(index))
            .filter(|v| !v.is_null())
    }

    fn str(&self, index: usize, name: &str) -> Option<&str> {
        self.get(index, name).and_then(Value::as_str)
    }

    fn f64(&self, index: usize, name: &str) -> Option<f64> {
        self.get(index, name).and_then(|v| {
            v.as_f64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        })
    }

    /// Python truthiness of a flag the web app may send as a bool or as `'true'`.
    fn flag(&self, index: usize, name: &str) -> bool {
        match self.get(index, name) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => {
                matches!(s.to_ascii_lowercase().as_str(), "true" | "1" | "yes")
            }
            Some(Value::Number(n)) => n.as_f64().is_some_and(|n| n != 0.0),
            _ => false,
        }
    }
}

fn host(e: HostError) -> String {
    e.into_message()
}

fn printer_call(printer: &str, func: &str, args: &Args) -> Result<Value, String> {
    match func {
        "commands" => {
            let commands: Vec<String> = match args.get(0, "commands") {
                Some(Value::String(s)) => s.lines().map(str::to_string).collect(),
                Some(Value::Array(list)) => list
                    .iter()
                    .filter_map(Value::as_str)
                    .flat_map(str::lines)
                    .map(str::to_string)
                    .collect(),
                _ => return Err("commands needs a G-code command or a list of them".into()),
            };
            let commands: Vec<String> = commands
                .into_iter()
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .collect();
            printers::send_commands(printer, &commands).map_err(host)?;
            Ok(Value::Null)
        }
        "connect" => printers::connect(printer).map(|()| Value::Null).map_err(host),
        "disconnect" => printers::disconnect(printer).map(|()| Value::Null).map_err(host),
        "get_connection_options" => {
            let info = printers::get(printer).map_err(host)?;
            let profile = info.profile.clone().unwrap_or_else(|| info.details.name.clone());
            Ok(json!({
                "ports": [info.port],
                "baudrates": [info.baud],
                "printerProfiles": [{"id": profile, "name": profile}],
                "portPreference": info.port,
                "baudratePreference": info.baud,
                "printerProfilePreference": profile,
                "autoconnect": true,
            }))
        }
        "select_file" => {
            let path = args
                .str(0, "path")
                .ok_or("select_file needs the file's path")?
                .trim_start_matches('/');
            if args.flag(1, "sd") {
                return Err("printfarm prints from its library, not from the printer's SD card".into());
            }
            if !args.flag(2, "printAfterSelect") {
                return Err(format!(
                    "printfarm starts a print when it selects a file: select {path} with printAfterSelect true"
                ));
            }
            printers::start_print(printer, path).map_err(host)?;
            Ok(Value::Null)
        }
        "start_print" | "resume_print" => {
            let call = if func == "start_print" {
                // OctoPrint starts the selected file; the farm selects and starts together.
                return Err("select a file with printAfterSelect true to start a print".into());
            } else {
                printers::resume(printer)
            };
            call.map(|()| Value::Null).map_err(host)
        }
        "pause_print" => printers::pause(printer).map(|()| Value::Null).map_err(host),
        "cancel_print" => printers::cancel(printer).map(|()| Value::Null).map_err(host),
        "toggle_pause_print" => {
            let info = printers::get(printer).map_err(host)?;
            let r = if info.state == printers::PrinterState::Paused {
                printers::resume(printer)
            } else {
                printers::pause(printer)
            };
            r.map(|()| Value::Null).map_err(host)
        }
        "jog" => {
            let axes = args
                .get(0, "axes")
                .and_then(Value::as_object)
                .ok_or("jog needs the axes to move, as {\"x\": 10}")?;
            let axis = |name: &str| {
                axes.get(name)
                    .or_else(|| axes.get(&name.to_ascii_uppercase()))
                    .and_then(Value::as_f64)
            };
            let relative = args.get(1, "relative").is_none() || args.flag(1, "relative");
            printers::jog(
                printer,
                axis("x"),
                axis("y"),
                axis("z"),
                !relative,
                args.f64(2, "speed"),
            )
            .map(|()| Value::Null)
            .map_err(host)
        }
        "home" => {
            let axes: Vec<String> = match args.get(0, "axes") {
                Some(Value::Array(list)) => list
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_ascii_lowercase)
                    .collect(),
                Some(Value::String(s)) => vec![s.to_ascii_lowercase()],
                _ => vec!["x".into(), "y".into(), "z".into()],
            };
            printers::home(printer, &axes)
                .map(|()| Value::Null)
                .map_err(host)
        }
        "set_temperature" => {
            let heater = args
                .str(0, "heater")
                .ok_or("set_temperature needs a heater (tool0, bed…)")?;
            let value = args
                .f64(1, "value")
                .ok_or("set_temperature needs a temperature in °C")?;
            printers::set_temperature(printer, heater, value)
                .map(|()| Value::Null)
                .map_err(host)
        }
        "" => Err("the passthru call names no function".into()),
        other => Err(format!(
            "printfarm's Obico agent does not offer `_printer.{other}` (it offers commands, connect, disconnect, get_connection_options, select_file, pause_print, resume_print, cancel_print, toggle_pause_print, jog, home, set_temperature)"
        )),
    }
}

fn file_manager_call(func: &str, args: &Args) -> Result<Value, String> {
    if func != "list_files" {
        return Err(format!(
            "printfarm's Obico agent does not offer `_file_manager.{func}` (it offers list_files)"
        ));
    }
    let path = args.str(1, "path").unwrap_or("").trim_matches('/');
    let filter = args.str(2, "filter").map(str::to_ascii_lowercase);
    let recursive = args.flag(3, "recursive") || filter.is_some();
    let level = args.get(4, "level").and_then(Value::as_u64);
    let listed = files::list(path, recursive || level.is_some_and(|l| l > 0)).map_err(host)?;
    let mut root = Map::new();
    for file in &listed {
        let name = file.name.clone();
        if let Some(filter) = &filter {
            if file.is_folder || !name.to_ascii_lowercase().contains(filter) {
                continue;
            }
        }
        insert(&mut root, path, file);
    }
    Ok(json!({ "local": root }))
}

/// Places a file at its place in OctoPrint's nested listing (`children` of folders).
fn insert(root: &mut Map<String, Value>, base: &str, file: &files::FileInfo) {
    let relative = file
        .path
        .strip_prefix(base)
        .unwrap_or(&file.path)
        .trim_start_matches('/');
    let mut parts: Vec<&str> = relative.split('/').filter(|p| !p.is_empty()).collect();
    let Some(leaf) = parts.pop() else { return };
    let mut level = root;
    let mut prefix = base.to_string();
    for folder in parts {
        prefix = if prefix.is_empty() {
            folder.to_string()
        } else {
            format!("{prefix}/{folder}")
        };
        let entry = level
            .entry(folder.to_string())
            .or_insert_with(|| folder_entry(folder, &prefix));
        level = entry["children"]
            .as_object_mut()
            .expect("folders have children");
    }
    let entry = if file.is_folder {
        folder_entry(leaf, &file.path)
    } else {
        json!({
            "name": leaf,
            "display": leaf,
            "path": file.path,
            "type": "machinecode",
            "typePath": ["machinecode", "gcode"],
            "origin": "local",
            "size": file.size,
            "date": file.modified / 1000,
        })
    };
    // A folder listed after one of its files keeps the children found so far.
    level.entry(leaf.to_string()).or_insert(entry);
}

fn folder_entry(name: &str, path: &str) -> Value {
    json!({
        "name": name,
        "display": name,
        "path": path,
        "type": "folder",
        "typePath": ["folder"],
        "origin": "local",
        "children": {},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_targets_and_functions_answer_an_error_with_the_ref() {
        printfarm_sdk::testing::reset();
        let answer = call("p1", &json!({"ref": "r1", "target": "janus", "func": "x"}));
        assert_eq!(answer["ref"], "r1");
        assert!(answer["error"]
            .as_str()
            .unwrap()
            .contains("no passthru target `janus`"));
        let answer = call(
            "p1",
            &json!({"ref": "r2", "target": "_printer", "func": "explode"}),
        );
        assert!(answer["error"]
            .as_str()
            .unwrap()
            .contains("_printer.explode"));
        let answer = call(
            "p1",
            &json!({"ref": "r3", "target": "_file_manager", "func": "remove_file"}),
        );
        assert!(answer["error"].as_str().unwrap().contains("list_files"));
        let answer = call(
            "p1",
            &json!({"ref": 4, "target": "_printer", "func": "select_file", "args": ["a.gcode", null]}),
        );
        assert_eq!(answer["ref"], 4);
        assert!(answer["error"]
            .as_str()
            .unwrap()
            .contains("printAfterSelect"));
    }

    #[test]
    fn flags_are_read_as_python_would() {
        let args = Args {
            positional: vec![json!("a.gcode"), json!(null)],
            named: [("printAfterSelect".to_string(), json!("true"))]
                .into_iter()
                .collect(),
        };
        assert!(args.flag(2, "printAfterSelect"));
        assert!(!args.flag(1, "sd"));
        assert_eq!(args.str(0, "path"), Some("a.gcode"));
    }
}
