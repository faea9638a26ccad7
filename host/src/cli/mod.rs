//! The command line beyond `serve`: local administration ([`users`]), plugin skeletons
//! ([`new_plugin`]) and the common farm operations against a running server ([`remote`]).

pub mod new_plugin;
pub mod remote;
pub mod users;
