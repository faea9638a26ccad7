//! `printfarm:plugin/camera` (since 0.1.2): printer snapshots, behind `printers.read`.
//!
//! The pictures come from [`Cameras`](crate::farm::camera::Cameras): a printer's webcam, which
//! the operator configured (so no outbound grant is asked), or the frame drawn for a virtual
//! printer.

use super::super::bindings::printfarm::plugin::camera::{self, Snapshot};
use super::super::bindings::HostError;
use super::super::context::cap;
use super::super::state::CallState;
use crate::farm::camera::CameraError;

impl camera::Host for CallState {
    async fn take_snapshot(&mut self, printer: String) -> Result<Snapshot, HostError> {
        let cameras = self.plugin.grant::<cap::PrintersRead>()?.cameras().clone();
        let shot = cameras.snapshot(&printer).await.map_err(|e| {
            let message = e.to_string();
            match e {
                CameraError::UnknownPrinter(_) | CameraError::NoCamera(_) => {
                    HostError::NotFound(message)
                }
                CameraError::Unavailable(_) => HostError::Unavailable(message),
                CameraError::TooLarge(_) => HostError::Limit(message),
                CameraError::NotJpeg(_) => HostError::Invalid(message),
                CameraError::Internal(_) => HostError::Internal(message),
            }
        })?;
        Ok(Snapshot {
            content_type: shot.content_type,
            data: shot.data,
            generated: shot.generated,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_denied, Harness};
    use super::*;

    const PRINTERS: &str = r#"
        [[printers]]
        id = "real"
        port = "/dev/ttyACM0"

        [[printers]]
        id = "sim"
        port = "virtual"

        [[printers]]
        id = "cam"
        port = "/dev/ttyACM1"
        webcam-snapshot = "http://127.0.0.1:9/snapshot.jpg"
    "#;

    #[tokio::test]
    async fn snapshots_need_printers_read() {
        let harness = Harness::with_printers(PRINTERS).await;
        let mut call = harness.granted(&[]);
        assert_denied(
            camera::Host::take_snapshot(&mut call, "sim".into()).await,
            "printers.read",
        );
    }

    /// A virtual printer without a webcam gets a drawn frame; a real one has no camera, and the
    /// message says what to set; a webcam that does not answer is unavailable, named by URL.
    #[tokio::test]
    async fn each_kind_of_printer_gets_its_kind_of_answer() {
        let harness = Harness::with_printers(PRINTERS).await;
        let mut call = harness.granted(&["printers.read"]);
        let shot = camera::Host::take_snapshot(&mut call, "sim".into())
            .await
            .unwrap();
        assert!(shot.generated);
        assert_eq!(shot.content_type, "image/jpeg");
        assert!(shot.data.starts_with(&[0xFF, 0xD8, 0xFF]));
        let again = camera::Host::take_snapshot(&mut call, "sim".into())
            .await
            .unwrap();
        assert_eq!(again.data, shot.data, "nothing changed, the same frame");
        match camera::Host::take_snapshot(&mut call, "real".into()).await {
            Err(HostError::NotFound(m)) => assert_eq!(
                m,
                "printer real has no camera: set webcam-snapshot in its [[printers]] entry"
            ),
            other => panic!("{other:?}"),
        }
        match camera::Host::take_snapshot(&mut call, "cam".into()).await {
            Err(HostError::Unavailable(m)) => assert!(
                m.starts_with("camera of printer cam at http://127.0.0.1:9/snapshot.jpg: "),
                "{m}"
            ),
            other => panic!("{other:?}"),
        }
        match camera::Host::take_snapshot(&mut call, "nope".into()).await {
            Err(HostError::NotFound(m)) => assert!(m.contains("nope"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
