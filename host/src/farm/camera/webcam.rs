//! A printer's webcam: the JPEG its `webcam-snapshot` URL serves.
//!
//! The operator configured the URL, so no plugin grant is needed to reach it; the plugin gets
//! the picture, never the connection.

use std::time::Duration;

use super::{CameraError, Snapshot};
use crate::http::error::status_text;

/// How long a webcam may take to answer. A snapshot is a live picture: one older than this is
/// not worth waiting for, and the plugin asking has a call deadline of its own (5 s by default).
pub const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest snapshot read from a webcam. A webcam's JPEG is 50 to 500 KiB at 1080p and a few
/// MiB at 4K, so 8 MiB takes any camera's picture, while bounding what one call holds: the
/// snapshot is copied into the plugin's memory (64 MiB by default) whole.
pub const MAX_SNAPSHOT_BYTES: usize = 8 << 20;

/// What every JPEG starts with: the start-of-image marker and the next marker's first byte.
const JPEG_MAGIC: [u8; 3] = [0xFF, 0xD8, 0xFF];

/// Fetches printer `printer`'s snapshot from `url`.
pub async fn fetch(
    http: &reqwest::Client,
    printer: &str,
    url: &str,
) -> Result<Snapshot, CameraError> {
    let camera = format!("camera of printer {printer} at {}", shown(url));
    let unavailable = |what: String| CameraError::Unavailable(format!("{camera}: {what}"));
    let mut response = http
        .get(url)
        .timeout(SNAPSHOT_TIMEOUT)
        .send()
        .await
        .map_err(|e| unavailable(transport(&e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(unavailable(format!("answered {}", status_text(status))));
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("no content type")
        .to_string();
    let too_large = || {
        CameraError::TooLarge(format!(
            "{camera}: the snapshot is larger than {} MiB; set the camera to a smaller picture",
            MAX_SNAPSHOT_BYTES >> 20
        ))
    };
    if response
        .content_length()
        .is_some_and(|n| n > MAX_SNAPSHOT_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut data = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| unavailable(transport(&e)))?
    {
        if data.len() + chunk.len() > MAX_SNAPSHOT_BYTES {
            return Err(too_large());
        }
        data.extend_from_slice(&chunk);
    }
    if !data.starts_with(&JPEG_MAGIC) {
        return Err(CameraError::NotJpeg(format!(
            "{camera} answered {content_type}, {} bytes, not a JPEG",
            data.len()
        )));
    }
    Ok(Snapshot {
        // Checked above; cameras also say `image/jpg` or nothing useful.
        content_type: "image/jpeg".into(),
        data,
        generated: false,
    })
}

/// The URL as messages show it: without a password, which plugins could pass on to their
/// servers with the message.
fn shown(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

/// Why a request failed, without the URL (the message names it already): the deepest cause
/// says most (`Connection refused`, a DNS failure).
fn transport(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("no answer within {} s", SNAPSHOT_TIMEOUT.as_secs());
    }
    let mut cause: &dyn std::error::Error = e;
    while let Some(source) = cause.source() {
        cause = source;
    }
    if e.is_connect() {
        format!("cannot connect: {cause}")
    } else {
        format!("the request failed: {cause}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-shot HTTP server on a free local port answering `status` with `content_type` and
    /// `body`; its URL.
    async fn camera(status: &'static str, content_type: &'static str, body: Vec<u8>) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let body = body.clone();
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    let _ = socket.read(&mut request).await;
                    let head = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = socket.write_all(head.as_bytes()).await;
                    let _ = socket.write_all(&body).await;
                });
            }
        });
        format!("http://{addr}/snapshot")
    }

    fn jpeg() -> Vec<u8> {
        let mut data = JPEG_MAGIC.to_vec();
        data.extend_from_slice(b"\xE0rest of a picture");
        data
    }

    #[tokio::test]
    async fn a_webcam_jpeg_is_handed_over_as_taken() {
        let url = camera("200 OK", "image/jpg", jpeg()).await;
        let snapshot = fetch(&reqwest::Client::new(), "p1", &url).await.unwrap();
        assert_eq!(snapshot.data, jpeg());
        assert_eq!(snapshot.content_type, "image/jpeg");
        assert!(!snapshot.generated);
    }

    #[tokio::test]
    async fn errors_name_the_printer_the_url_and_what_came_back() {
        let http = reqwest::Client::new();
        let url = camera("404 Not Found", "text/plain", b"no".to_vec()).await;
        match fetch(&http, "p1", &url).await {
            Err(CameraError::Unavailable(m)) => assert_eq!(
                m,
                format!("camera of printer p1 at {url}: answered HTTP 404 Not Found")
            ),
            other => panic!("{other:?}"),
        }
        let url = camera("200 OK", "text/html", b"<html>login</html>".to_vec()).await;
        match fetch(&http, "p1", &url).await {
            Err(CameraError::NotJpeg(m)) => assert_eq!(
                m,
                format!("camera of printer p1 at {url} answered text/html, 18 bytes, not a JPEG")
            ),
            other => panic!("{other:?}"),
        }
        let url = camera("200 OK", "image/jpeg", vec![0xFF; MAX_SNAPSHOT_BYTES + 1]).await;
        match fetch(&http, "p1", &url).await {
            Err(CameraError::TooLarge(m)) => assert!(m.contains("8 MiB"), "{m}"),
            other => panic!("{other:?}"),
        }
        // Nothing listens on the discard port.
        match fetch(&http, "p1", "http://127.0.0.1:9/snapshot").await {
            Err(CameraError::Unavailable(m)) => assert!(
                m.starts_with(
                    "camera of printer p1 at http://127.0.0.1:9/snapshot: cannot connect"
                ),
                "{m}"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_password_in_the_url_is_not_shown() {
        assert_eq!(
            shown("http://admin:secret@cam.local/snap.jpg"),
            "http://admin:***@cam.local/snap.jpg"
        );
        assert_eq!(
            shown("http://cam.local/snap.jpg"),
            "http://cam.local/snap.jpg"
        );
    }
}
