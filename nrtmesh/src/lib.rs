//! The operations CLI and all-in-one binary of nrt-mesh.

pub mod backfill;
pub mod dev;
pub mod history;
pub mod jobs;
pub mod receiver;
pub mod rules;
pub mod streams;
