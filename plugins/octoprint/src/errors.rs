//! OctoPrint's error answers: `{"error": "…"}` with the status codes its clients test for.

use printfarm_sdk::{Error, HostError, Request};
use serde_json::{Map, Value};

/// OctoPrint's message for a missing, invalid or insufficient API key (always 403, never 401).
pub const FORBIDDEN: &str = "You don't have the permission to access the requested resource. \
It is either read-protected or not readable by the server.";

/// Flask's message for a path nothing serves, which OctoPrint answers as `{"error": …}`.
pub const NOT_FOUND: &str = "The requested URL was not found on the server. If you entered the \
URL manually please check your spelling and try again.";

/// 403 as OctoPrint answers it for a missing, invalid or insufficient key.
pub fn forbidden() -> Error {
    Error::forbidden(FORBIDDEN)
}

/// 409 for a printer that is not connected (HA treats exactly this as "offline").
pub fn not_operational() -> Error {
    Error::conflict("Printer is not operational")
}

/// Maps a failed host call to OctoPrint's codes. Differs from the SDK's default in that a
/// printer the host cannot reach (`unavailable`) is a 409, as OctoPrint answers for a printer
/// that is not operational, rather than a 503 that clients do not expect.
pub fn host(e: HostError) -> Error {
    match e {
        HostError::Unavailable(m) | HostError::Conflict(m) => Error::conflict(m),
        HostError::NotFound(m) => Error::not_found(m),
        HostError::Invalid(m) => Error::bad_request(m),
        HostError::Limit(m) => Error::payload_too_large(m),
        HostError::Denied(m) | HostError::Internal(m) => Error::internal(m),
    }
}

/// A parsed JSON command body (`{"command": "…", …}`).
pub struct Command {
    /// The command name.
    pub name: String,
    /// The whole body, for the command's own fields.
    pub data: Map<String, Value>,
}

/// Parses a command body the way OctoPrint's `get_json_command_from_request` does: JSON only
/// (415 otherwise), well formed (400), an object with a `command` among `valid` (400).
pub fn command(req: &Request, valid: &[&str]) -> Result<Command, Error> {
    let data = json_object(req)?;
    let name = match data.get("command") {
        Some(Value::String(s)) => s.clone(),
        _ => {
            return Err(Error::bad_request(
                "Expected a \"command\" in the request body",
            ))
        }
    };
    if !valid.contains(&name.as_str()) {
        return Err(Error::bad_request(format!(
            "command must be one of: {}",
            valid.join(", ")
        )));
    }
    Ok(Command { name, data })
}

/// [`command`], and the fields each command must carry (`(command, [fields])`): 400 "Mandatory
/// parameters missing" without them, as OctoPrint checks before it looks at permissions.
pub fn command_with(req: &Request, valid: &[(&str, &[&str])]) -> Result<Command, Error> {
    let names: Vec<&str> = valid.iter().map(|(name, _)| *name).collect();
    let cmd = command(req, &names)?;
    let required = valid
        .iter()
        .find(|(name, _)| *name == cmd.name)
        .map_or(&[][..], |(_, fields)| *fields);
    if required.iter().any(|field| !cmd.data.contains_key(*field)) {
        return Err(Error::bad_request("Mandatory parameters missing"));
    }
    Ok(cmd)
}

/// A JSON object body: 415 for another content type, 400 when malformed or not an object.
pub fn json_object(req: &Request) -> Result<Map<String, Value>, Error> {
    if !req.is_json() {
        return Err(Error::unsupported_media_type("Expected content-type JSON"));
    }
    match serde_json::from_slice::<Value>(req.body()) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::bad_request("Malformed JSON body in request")),
        Err(_) => Err(Error::bad_request("Malformed JSON body in request")),
    }
}

/// A number field (OctoPrint accepts ints and floats); 400 when present but not a number.
pub fn number(data: &Map<String, Value>, key: &str) -> Result<Option<f64>, Error> {
    match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(_) => Err(Error::bad_request(format!("{key} must be a number"))),
    }
}

/// A required number field: 400 when missing or not a number.
pub fn required_number(data: &Map<String, Value>, key: &str) -> Result<f64, Error> {
    number(data, key)?.ok_or_else(|| Error::bad_request(format!("{key} is missing")))
}

/// OctoPrint's form booleans: `true`, `yes`, `y`, `1` in any case (JSON booleans too).
pub fn truthy(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "true" | "yes" | "y" | "1"
    )
}

/// A boolean JSON field, accepting OctoPrint's string forms too.
pub fn json_bool(data: &Map<String, Value>, key: &str) -> bool {
    match data.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => truthy(s),
        Some(Value::Number(n)) => n.as_f64().is_some_and(|n| n != 0.0),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_booleans() {
        for t in ["true", "True", "YES", "y", "1"] {
            assert!(truthy(t), "{t}");
        }
        for f in ["false", "no", "0", "", "maybe"] {
            assert!(!truthy(f), "{f}");
        }
    }

    #[test]
    fn commands_need_json_and_a_known_name() {
        let req = Request::builder("POST", "/api/job")
            .header("content-type", "text/plain")
            .body("{}")
            .build();
        assert_eq!(command(&req, &["start"]).err().unwrap().status, 415);
        let req = Request::builder("POST", "/api/job")
            .header("content-type", "application/json")
            .body("{")
            .build();
        assert_eq!(command(&req, &["start"]).err().unwrap().status, 400);
        let req = Request::builder("POST", "/api/job")
            .json(&serde_json::json!({"command": "fly"}))
            .build();
        assert_eq!(command(&req, &["start"]).err().unwrap().status, 400);
        let req = Request::builder("POST", "/api/job")
            .json(&serde_json::json!({"command": "start"}))
            .build();
        assert_eq!(command(&req, &["start"]).unwrap().name, "start");
    }
}
