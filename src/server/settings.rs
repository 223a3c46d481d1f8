//! The wire side of session settings (the settings themselves are `pg::settings`): the
//! ParameterStatus messages a change sends, and the statement timeout a client set.

use std::time::Duration;

use pgwire::api::ClientInfo;
use pgwire::messages::startup::ParameterStatus;
use pgwire::messages::PgWireBackendMessage;

pub use crate::pg::settings::*;

/// The ParameterStatus messages that tell a client of `changes`.
pub fn status_messages(changes: Vec<Change>) -> impl Iterator<Item = PgWireBackendMessage> {
    changes.into_iter().filter_map(|c| {
        c.reported_as
            .map(|name| PgWireBackendMessage::ParameterStatus(ParameterStatus::new(name.into(), c.value)))
    })
}


/// The statement timeout in force for `client`.
pub fn statement_timeout<C: ClientInfo + ?Sized>(client: &C) -> Option<Duration> {
    client
        .metadata()
        .get(METADATA_STATEMENT_TIMEOUT_MS)
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis)
}
