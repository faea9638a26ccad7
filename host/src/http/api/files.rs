//! `/api/files`: the G-code library. Uploads stream to disk (hashed on the way, never held in
//! memory); files are named by `?path=` relative to the library root.

use axum::body::BodyDataStream;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use printfarm_core::identity::{Identity, Role};
use printfarm_core::library::{path as library_path, FileInfo, Incoming, Library, Received};
use serde::Deserialize;

use super::auth::require;
use super::error::{ApiError, ApiResult, JsonBody, QueryParams};
use super::ApiState;
use crate::http::{library_file, staging};

/// Which folder to list.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// The folder (default: the root).
    #[serde(default)]
    pub folder: String,
    /// Everything below it, not just its children.
    #[serde(default)]
    pub recursive: bool,
}

/// Lists a folder of the library.
#[utoipa::path(get, path = "/api/files", tag = "files", params(ListQuery),
    responses((status = 200, body = [FileInfo]), (status = 400), (status = 404)))]
pub async fn list(
    State(state): State<ApiState>,
    QueryParams(q): QueryParams<ListQuery>,
) -> ApiResult<Json<Vec<FileInfo>>> {
    Ok(Json(
        state
            .host
            .services
            .library
            .list(&q.folder, q.recursive)
            .await?,
    ))
}

/// A file or folder named by `path`.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PathQuery {
    /// Path relative to the library root (`parts/benchy.gcode`).
    pub path: String,
}

/// One file's metadata and analysis, or a folder's.
#[utoipa::path(get, path = "/api/files/info", tag = "files", params(PathQuery),
    responses((status = 200, body = FileInfo), (status = 400), (status = 404)))]
pub async fn info(
    State(state): State<ApiState>,
    QueryParams(q): QueryParams<PathQuery>,
) -> ApiResult<Json<FileInfo>> {
    Ok(Json(state.host.services.library.stat(&q.path).await?))
}

/// A file's bytes.
#[utoipa::path(get, path = "/api/files/download", tag = "files", params(PathQuery),
    responses((status = 200, content_type = "text/x.gcode", body = String), (status = 400), (status = 404)))]
pub async fn download(
    State(state): State<ApiState>,
    QueryParams(q): QueryParams<PathQuery>,
) -> ApiResult<Response> {
    let (entry, body) = library_file::open(&state.host.services.library, &q.path).await?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(library_file::GCODE_CONTENT_TYPE),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(entry.size));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}\"",
        entry.name.replace(['"', '\\'], "_")
    )) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok((headers, body).into_response())
}

/// Which thumbnail.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ThumbnailQuery {
    /// The file.
    pub path: String,
    /// The thumbnail's index in the file's `thumbnails` (default 0).
    #[serde(default)]
    pub index: u32,
}

/// A thumbnail the slicer embedded, as an image.
#[utoipa::path(get, path = "/api/files/thumbnail", tag = "files", params(ThumbnailQuery),
    responses((status = 200, content_type = "image/png", body = Vec<u8>), (status = 404)))]
pub async fn thumbnail(
    State(state): State<ApiState>,
    QueryParams(q): QueryParams<ThumbnailQuery>,
) -> ApiResult<Response> {
    let (format, data) = state
        .host
        .services
        .library
        .thumbnail(&q.path, q.index)
        .await?;
    let mime = printfarm_gcode::image_mime_type(&format);
    Ok(([(header::CONTENT_TYPE, mime)], data).into_response())
}

/// The multipart form of an upload (for the OpenAPI document; the body is streamed).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The G-code file (its multipart file name is used when `path` is absent or a folder).
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    file: String,
    /// Where to store it: a full path (`parts/a.gcode`), or a folder ending in `/`.
    path: Option<String>,
    /// Replace a file already there (`true`/`false`, default false).
    overwrite: Option<bool>,
}

/// Uploads a G-code file: multipart with a `file` part and optional `path` and `overwrite`
/// fields, in any order. Nothing is stored unless the whole upload arrived and is G-code.
#[utoipa::path(post, path = "/api/files", tag = "files",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 201, body = FileInfo), (status = 400), (status = 403), (status = 409), (status = 413)))]
pub async fn upload(
    State(state): State<ApiState>,
    Extension(who): Extension<Identity>,
    req: Request,
) -> ApiResult<Response> {
    require(&who, Role::Operator)?;
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let boundary = multer::parse_boundary(&content_type).map_err(|_| {
        ApiError::bad_request("send the file as multipart/form-data with a `file` part")
    })?;
    let library = &state.host.services.library;
    let mut stream = req.into_body().into_data_stream();
    let form = receive_upload(library, &mut stream, boundary).await;
    if form.is_err() {
        // Read what the client is still sending, so it sees this answer rather than a reset.
        staging::drain(&mut stream).await;
    }
    let (received, path, overwrite) = form?;
    let Some((filename, received)) = received else {
        return Err(ApiError::bad_request("the upload has no `file` part"));
    };
    // Browsers may send a full client path as the file name; only its last component counts.
    let filename = filename
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .to_string();
    let target = match path {
        Some(p) if p.ends_with('/') => library_path::join(p.trim_end_matches('/'), &filename),
        Some(p) if !p.is_empty() => p,
        _ => filename,
    };
    let stored = library.store(received, &target, overwrite).await?;
    Ok((StatusCode::CREATED, Json(stored)).into_response())
}

/// What an upload's multipart form carried: the received file (with its client-side name), the
/// `path` and `overwrite` fields.
type UploadParts = (Option<(String, Received)>, Option<String>, bool);

/// Reads an upload's multipart form, streaming the `file` part into the library's incoming area.
async fn receive_upload(
    library: &Library,
    stream: &mut BodyDataStream,
    boundary: String,
) -> ApiResult<UploadParts> {
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut received = None;
    let (mut path, mut overwrite) = (None, false);
    let malformed =
        |e: multer::Error| ApiError::bad_request(format!("malformed multipart body: {e}"));
    while let Some(mut field) = multipart.next_field().await.map_err(malformed)? {
        let name = field.name().unwrap_or_default().to_string();
        match (name.as_str(), field.file_name().map(str::to_string)) {
            ("file", Some(filename)) => {
                if received.is_some() {
                    return Err(ApiError::bad_request("one `file` part per upload"));
                }
                let mut incoming: Incoming = library.incoming()?;
                while let Some(chunk) = field.chunk().await.map_err(malformed)? {
                    incoming.write(&chunk).await?;
                }
                received = Some((filename, incoming.finish().await?));
            }
            ("path", None) => path = Some(field.text().await.map_err(malformed)?),
            ("overwrite", None) => {
                let value = field.text().await.map_err(malformed)?;
                overwrite = match value.trim() {
                    "true" | "1" | "yes" => true,
                    "false" | "0" | "no" | "" => false,
                    other => {
                        return Err(ApiError::bad_request(format!(
                            "`overwrite` is {other:?}; use true or false"
                        )))
                    }
                };
            }
            _ => {
                return Err(ApiError::bad_request(format!(
                    "unexpected multipart field `{name}`: send `file` (a file part), `path` and `overwrite`"
                )))
            }
        }
    }
    Ok((received, path, overwrite))
}

/// Deletes a file, or a folder with everything in it.
#[utoipa::path(delete, path = "/api/files", tag = "files", params(PathQuery),
    responses((status = 204), (status = 403), (status = 404), (status = 409)))]
pub async fn delete(
    State(state): State<ApiState>,
    Extension(who): Extension<Identity>,
    QueryParams(q): QueryParams<PathQuery>,
) -> ApiResult<StatusCode> {
    require(&who, Role::Operator)?;
    state.host.services.library.delete(&q.path).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A folder to create.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFolder {
    /// Its path (parents are created).
    pub path: String,
}

/// Creates a folder.
#[utoipa::path(post, path = "/api/files/folder", tag = "files", request_body = NewFolder,
    responses((status = 201, body = FileInfo), (status = 400), (status = 403), (status = 409)))]
pub async fn make_folder(
    State(state): State<ApiState>,
    Extension(who): Extension<Identity>,
    JsonBody(body): JsonBody<NewFolder>,
) -> ApiResult<(StatusCode, Json<FileInfo>)> {
    require(&who, Role::Operator)?;
    Ok((
        StatusCode::CREATED,
        Json(state.host.services.library.make_folder(&body.path).await?),
    ))
}

/// A move or copy.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    /// The file or folder.
    pub source: String,
    /// Its new path.
    pub destination: String,
}

/// Moves or renames a file or folder.
#[utoipa::path(post, path = "/api/files/move", tag = "files", request_body = Transfer,
    responses((status = 200, body = FileInfo), (status = 400), (status = 403), (status = 404), (status = 409)))]
pub async fn move_entry(
    State(state): State<ApiState>,
    Extension(who): Extension<Identity>,
    JsonBody(body): JsonBody<Transfer>,
) -> ApiResult<Json<FileInfo>> {
    require(&who, Role::Operator)?;
    Ok(Json(
        state
            .host
            .services
            .library
            .move_entry(&body.source, &body.destination)
            .await?,
    ))
}

/// Copies a file or folder.
#[utoipa::path(post, path = "/api/files/copy", tag = "files", request_body = Transfer,
    responses((status = 201, body = FileInfo), (status = 400), (status = 403), (status = 404), (status = 409)))]
pub async fn copy_entry(
    State(state): State<ApiState>,
    Extension(who): Extension<Identity>,
    JsonBody(body): JsonBody<Transfer>,
) -> ApiResult<(StatusCode, Json<FileInfo>)> {
    require(&who, Role::Operator)?;
    Ok((
        StatusCode::CREATED,
        Json(
            state
                .host
                .services
                .library
                .copy_entry(&body.source, &body.destination)
                .await?,
        ),
    ))
}
