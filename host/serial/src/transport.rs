//! Opening a serial device: a USB printer, a stable symlink to one, or a virtual printer's pty.

use std::path::Path;

use tokio_serial::{SerialPortBuilderExt, SerialStream};

/// Opens `path` at `baud`, 8N1, no flow control, for exclusive use (a second host opening the
/// same printer would interleave lines).
pub fn open(path: &Path, baud: u32) -> std::io::Result<SerialStream> {
    tokio_serial::new(path.to_string_lossy(), baud)
        .data_bits(tokio_serial::DataBits::Eight)
        .parity(tokio_serial::Parity::None)
        .stop_bits(tokio_serial::StopBits::One)
        .flow_control(tokio_serial::FlowControl::None)
        .open_native_async()
        .map_err(std::io::Error::from)
}
