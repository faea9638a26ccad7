//! The command line beyond `serve`: local administration ([`users`]) and the common farm
//! operations against a running server ([`remote`]).

pub mod remote;
pub mod users;
