//! The launcher running jobs on its Kubernetes and Nomad backends, end to end over a real
//! nats-server and a real SeaweedFS. The cluster is a fake API server answering as the real API
//! documents it; the test plays the container (reads its manifest, writes its outputs to S3)
//! and the cluster's controllers (completes or fails the Job, the allocation).

mod harness;

#[path = "kubernetes/fake_api.rs"]
mod fake_api;
mod nomad;
#[path = "containers/kubernetes.rs"]
mod on_kubernetes;
#[path = "containers/nomad.rs"]
mod on_nomad;
#[path = "containers/outputs.rs"]
mod outputs;
