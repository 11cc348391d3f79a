//! Products that arrive as objects in a bucket: S3 object events (any format an S3 sends), and a
//! listing reconciler that finds the objects whose events were lost.

pub mod config;
pub mod events;
pub mod listing;
pub mod naming;
pub mod objects;

pub use config::BucketSource;
