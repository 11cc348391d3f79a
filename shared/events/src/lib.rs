//! The events nrt-mesh services exchange: CloudEvents 1.0 envelopes around typed, versioned data,
//! with the subjects and streams that carry each type defined beside it.

mod alert;
mod catalogue;
mod dead_letter;
mod envelope;
mod job;
mod product;
mod retracted;
pub mod s3;
pub mod streams;
mod subject;

pub use alert::{Alert, Severity};
pub use catalogue::ItemPublished;
pub use dead_letter::DeadLetter;
pub use envelope::{DecodeError, Envelope, EventData, RawEvent, TYPE_PREFIX};
pub use job::{
    JobDead, JobFailed, JobInput, JobOutput, JobRequested, JobStarted, JobSucceeded, job_id,
    stable_hash,
};
pub use product::{Checksum, ProductDiscovered, product_key};
pub use retracted::ProductRetracted;
pub use subject::subject_token;
