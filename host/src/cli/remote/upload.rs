//! `printfarm upload`: stream a file with a progress bar, then queue it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _};
use futures::TryStreamExt as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::AsyncReadExt as _;

use super::client::{emit, parse, pretty_json, Api, WRONG_BASE};
use super::table::PrinterRow;
use super::RemoteArgs;

/// What to upload and whether to queue it.
#[derive(clap::Args, Debug)]
pub struct UploadRequest {
    /// The file.
    file: PathBuf,
    /// Where in the library (a path, or a folder ending in `/`; default: the file's name).
    #[arg(long)]
    path: Option<String>,
    /// Replace a library file of the same path.
    #[arg(long)]
    overwrite: bool,
    /// Queue it for this printer (repeat for several printers).
    #[arg(long = "print-on")]
    print_on: Vec<String>,
    /// Copies to queue (with --print-on or --queue).
    #[arg(long, default_value_t = 1)]
    copies: u32,
    /// Queue it for any printer (when no --print-on is given).
    #[arg(long)]
    queue: bool,
    /// Priority of the queued job (higher prints first).
    #[arg(long, default_value_t = 0)]
    priority: i32,
}

/// The stored file, as far as the output needs it.
#[derive(Deserialize)]
struct StoredFile {
    path: String,
    size: u64,
    #[serde(default)]
    sha256: Option<String>,
}

/// The queued job, as far as the output needs it.
#[derive(Deserialize)]
struct QueuedJob {
    id: i64,
    copies: u32,
}

/// `printfarm upload`: checks the arguments, the key and the printers, streams the file, then
/// queues it when asked.
pub(super) async fn upload(remote: &RemoteArgs, req: UploadRequest) -> anyhow::Result<()> {
    // Mistakes in the arguments are reported before anything is sent.
    let queue_it = !req.print_on.is_empty() || req.queue;
    if req.copies == 0 {
        bail!("--copies 0 prints nothing; give 1 or more");
    }
    if !queue_it && req.copies != 1 {
        bail!(
            "--copies {} needs a job to queue: add --print-on PRINTER (or --queue for any printer)",
            req.copies
        );
    }
    if !queue_it && req.priority != 0 {
        bail!(
            "--priority is for a queued job: add --print-on PRINTER (or --queue for any printer)"
        );
    }
    let api = Api::new(remote)?;
    let (file, len) = open_local(&req.file).await?;
    // The server names the library file after this unless --path says otherwise.
    let file_name = req
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "upload.gcode".to_string());

    // The server refuses a bad key or role before reading the body, and the connection may
    // then break before its answer arrives; asking first gives a clear message, and spares
    // streaming a large file for nothing.
    let me: Value = serde_json::from_str(&api.get("checking the API key", &["me"]).await?)?;
    if me["role"] == "viewer" {
        bail!(
            "`{}` is a viewer; uploading needs the operator role: use an operator's or admin's \
             API key",
            me["user"].as_str().unwrap_or("this user")
        );
    }
    if !req.print_on.is_empty() {
        // Unknown printers would only be refused when queueing, after the upload.
        let printers: Vec<PrinterRow> = parse(
            &api.get("checking the printers", &["printers"]).await?,
            "the printer list",
        )?;
        for wanted in &req.print_on {
            if !printers.iter().any(|p| &p.id == wanted) {
                let ids: Vec<&str> = printers.iter().map(|p| p.id.as_str()).collect();
                bail!(
                    "--print-on {wanted}: the server has no such printer; its printers are: {}",
                    if ids.is_empty() {
                        "none".to_string()
                    } else {
                        ids.join(", ")
                    }
                );
            }
        }
    }

    let what = format!("uploading `{}`", req.file.display());
    let bar = progress_bar(len, remote.json, &file_name)?;
    let (counter, name) = (bar.clone(), file_name.clone());
    // Read from disk as the request body is sent: the bar advances as bytes leave, and the
    // file is never held in memory. `take` keeps the body at the announced length even if
    // the file grows meanwhile.
    let stream = tokio_util::io::ReaderStream::with_capacity(file.take(len), 64 << 10).inspect_ok(
        move |chunk| {
            counter.inc(chunk.len() as u64);
            if counter.position() >= len {
                counter.set_message(format!("{name}: waiting for the server"));
            }
        },
    );
    let part =
        reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(stream), len)
            .file_name(file_name)
            .mime_str("application/octet-stream")?;
    let mut form = reqwest::multipart::Form::new();
    if let Some(path) = &req.path {
        form = form.text("path", path.clone());
    }
    form = form
        .text("overwrite", if req.overwrite { "true" } else { "false" })
        .part("file", part);
    let url = api.url(&["files"]);
    let conflict_hint = if req.overwrite {
        "the path is taken by a folder or by a file that is printing; pick another --path"
    } else {
        "add --overwrite to replace the library file, or pick another --path"
    };
    let sent = api
        .send(
            &what,
            &url,
            api.http.post(url.clone()).multipart(form),
            &[
                (StatusCode::CONFLICT, conflict_hint),
                (StatusCode::NOT_FOUND, WRONG_BASE),
                (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "the server's `upload-limit-mb` setting is lower than this file's size",
                ),
            ],
        )
        .await;
    bar.finish_and_clear();
    let file_body = api.json_body(&what, sent?).await?;
    let stored: StoredFile = parse(&file_body, "the stored file")?;

    let job_body = if queue_it {
        let spec = json!({
            "file": stored.path,
            "copies": req.copies,
            "priority": req.priority,
            "placement": { "printers": req.print_on, "tags": [] },
        });
        let body = api
            .post_json(
                &format!("queueing `{}`", stored.path),
                &["jobs"],
                &spec,
                &[],
            )
            .await
            .with_context(|| {
                format!(
                    "`{}` is stored in the library but not queued; fix the cause and run the \
                     upload again with --overwrite",
                    stored.path
                )
            })?;
        Some(body)
    } else {
        None
    };

    if remote.json {
        // Both answers are passed on as the server wrote them.
        let combined = format!(
            "{{\"file\":{},\"job\":{}}}",
            file_body,
            job_body.as_deref().unwrap_or("null")
        );
        return emit(&pretty_json(&combined));
    }
    let sha = stored.sha256.as_deref().unwrap_or("unknown");
    let mut out = format!(
        "stored {} ({} bytes, sha256 {})",
        stored.path,
        stored.size,
        sha.get(..12).unwrap_or(sha)
    );
    if let Some(body) = &job_body {
        let job: QueuedJob = parse(body, "the queued job")?;
        let copies = if job.copies == 1 { "copy" } else { "copies" };
        let place = if req.print_on.is_empty() {
            "for any printer".to_string()
        } else {
            format!("on {}", req.print_on.join(", "))
        };
        let _ = write!(
            out,
            "\nqueued job {}: {} {copies} {place}",
            job.id, job.copies
        );
    }
    emit(&out)
}

/// Opens the file to upload and returns its size.
async fn open_local(path: &Path) -> anyhow::Result<(tokio::fs::File, u64)> {
    let shown = path.display();
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                anyhow!("`{shown}` does not exist; check the file name")
            }
            _ => anyhow!("cannot open `{shown}` ({e})"),
        })?;
    let meta = file
        .metadata()
        .await
        .map_err(|e| anyhow!("cannot read `{shown}` ({e})"))?;
    if !meta.is_file() {
        bail!("`{shown}` is not a file; give the G-code file to upload");
    }
    Ok((file, meta.len()))
}

/// The upload's progress bar on stderr: bytes, rate and ETA. indicatif hides it by itself when
/// stderr is not a terminal (no escape codes in logs) and limits redraws to 20 a second.
fn progress_bar(len: u64, json: bool, name: &str) -> anyhow::Result<ProgressBar> {
    let target = if json {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    };
    let bar = ProgressBar::with_draw_target(Some(len), target);
    bar.set_style(
        ProgressStyle::with_template(
            // The name goes last, as `wide_msg`: a long one is cut at the terminal's width
            // instead of wrapping the bar onto a second line on every redraw.
            "[{bar:25}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}  {wide_msg}",
        )?
        .progress_chars("=> "),
    );
    bar.set_message(name.to_string());
    Ok(bar)
}
