//! The embedded S3 endpoint of nrt-mesh: what `nrtmesh dev` and the tests run instead of MinIO.
//!
//! It serves the S3 API from a local directory (the `s3s` and `s3s-fs` crates), checks object
//! keys before they become paths, and, like MinIO's NATS target in production, publishes an S3
//! object event to JetStream (`objects.<bucket>`, stream OBJECTS) after every successful write,
//! awaiting the acknowledgement before answering the write.
//!
//! ```no_run
//! # async fn example(publisher: nrt_nats::Publisher) -> Result<(), nrt_embedded_s3::EmbeddedS3Error> {
//! use nrt_embedded_s3::{EmbeddedS3, EmbeddedS3Options};
//!
//! let s3 = EmbeddedS3::start(EmbeddedS3Options {
//!     events: Some(publisher),
//!     buckets: vec!["products".into(), "outputs".into()],
//!     ..EmbeddedS3Options::local("/var/lib/nrt-mesh/s3", "nrt-dev", "nrt-dev-secret")
//! })
//! .await?;
//! let client = nrt_s3::client(&s3.config()).await;
//! // ... run the services with s3.config() ...
//! s3.stop().await;
//! # Ok(())
//! # }
//! ```

mod announce;
mod keys;
mod notification;
mod server;
mod store;

pub use server::{EmbeddedS3, EmbeddedS3Error, EmbeddedS3Options};
