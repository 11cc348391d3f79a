//! End-to-end testing and benchmarking of the deployed mesh: the service binaries as separate
//! processes around real infrastructure started on this machine.

pub mod bench;
pub mod mesh;
pub mod otlp;
pub mod process;
