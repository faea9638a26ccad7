//! `printfarm:plugin/push`: a plugin's own client connections. No capability: it can reach only its own.

use super::super::bindings::printfarm::plugin::push::{self, Connection, Message};
use super::super::bindings::HostError;
use super::super::state::CallState;
use super::sockets::Outgoing;

impl push::Host for CallState {
    async fn send(&mut self, conn: u64, msg: Message) -> Result<(), HostError> {
        self.plugin.push().send(conn, Outgoing::Message(msg))
    }

    async fn close(&mut self, conn: u64, code: u16, reason: String) -> Result<(), HostError> {
        self.plugin.push().send(conn, Outgoing::Close(code, reason))
    }

    async fn connections(&mut self, printer: Option<String>) -> Vec<Connection> {
        self.plugin.push().connections(printer.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::Harness;
    use super::*;

    #[tokio::test]
    async fn a_plugin_reaches_only_its_own_connections() {
        let harness = Harness::new().await;
        let mut call = harness.granted(&[]);
        assert!(push::Host::connections(&mut call, None).await.is_empty());
        match push::Host::send(&mut call, 41, Message::Text("hi".into())).await {
            Err(HostError::NotFound(message)) => assert!(message.contains("41"), "{message}"),
            other => panic!("{other:?}"),
        }
        match push::Host::close(&mut call, 41, 1000, "bye".into()).await {
            Err(HostError::NotFound(_)) => {}
            other => panic!("{other:?}"),
        }
    }
}
