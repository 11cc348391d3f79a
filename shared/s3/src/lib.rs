//! How services reach S3: one client built from configuration, so the same code runs against AWS,
//! MinIO, Ceph, Garage, SeaweedFS or the embedded endpoint; the few operations the mesh needs,
//! with errors that say which object and whether retrying can help; object-key checks; and a
//! SeaweedFS harness so tests meet a real distributed S3 server.

mod client;
mod error;
mod key;
mod objects;
mod outputs;
pub mod seaweed;

pub use aws_sdk_s3;
pub use client::{S3Config, client};
pub use error::S3Error;
pub use key::{KeyError, validate_key};
pub use objects::{
    ListedObject, StoredObject, content_digest, ensure_bucket, get_bytes, list_keys, list_objects,
    put_bytes, put_file,
};
pub use outputs::{OutputsError, collect_stored_outputs, media_type};
