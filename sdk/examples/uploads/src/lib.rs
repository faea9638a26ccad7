//! Example: **uploads**. Taking files from clients.
//!
//! A `multipart/form-data` body never passes through the plugin's memory: the host streams each
//! file part to a staging file and hands the plugin an [`Upload`](printfarm_sdk::Upload) (its
//! field, file name, size and a handle). [`files::store_upload`] moves the staged file into the
//! farm's library, where the host analyses it. Text fields arrive as
//! [`Request::form_field`]. Here `POST /files` with a `file` part (and an optional `folder`
//! field) stores the file under `uploads/<folder>/` and answers 201 with where it went.

use printfarm_sdk::{files, Error, Plugin, Request, Response, Router};

/// The plugin.
pub struct Uploads;

/// Where a file named `name` goes, for the `folder` field's value.
pub fn destination(folder: Option<&str>, name: &str) -> Result<String, Error> {
    let name = name.rsplit(['/', '\\']).next().unwrap_or(name);
    if !name.to_ascii_lowercase().ends_with(".gcode") {
        return Err(Error::bad_request(format!(
            "`{name}` is not a .gcode file; only G-code goes to the library"
        )));
    }
    Ok(match folder.map(str::trim).filter(|f| !f.is_empty()) {
        Some(folder) => format!("uploads/{}/{name}", folder.trim_matches('/')),
        None => format!("uploads/{name}"),
    })
}

impl Plugin for Uploads {
    fn router() -> Router {
        Router::new().post("/files", store)
    }
}

/// `POST /files`.
fn store(req: &Request) -> Result<Response, Error> {
    let upload = req
        .upload("file")
        .ok_or_else(|| Error::bad_request("send the file as a multipart part named `file`"))?;
    let path = destination(req.form_field("folder"), &upload.filename)?;
    let stored = files::store_upload(upload.handle, &path, false)?;
    Ok(Response::created(
        &stored.path,
        &serde_json::json!({ "path": stored.path, "size": stored.size }),
    ))
}

printfarm_sdk::export_plugin!(Uploads);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_go_under_uploads_and_only_gcode_is_taken() {
        assert_eq!(
            destination(None, "cube.gcode").unwrap(),
            "uploads/cube.gcode"
        );
        assert_eq!(
            destination(Some("/parts/"), "C:\\models\\cube.GCODE").unwrap(),
            "uploads/parts/cube.GCODE"
        );
        assert_eq!(destination(Some("x"), "cube.stl").unwrap_err().status, 400);
    }
}
