//! The host ↔ firmware G-code protocol: what we send ([`line`]) and what the firmware says ([`reply`]).

pub mod line;
pub mod reply;
pub mod temperature;
