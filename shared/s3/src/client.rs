use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::config::Credentials;
use nrt_runtime::Secret;
use serde::Deserialize;

/// Where S3 is and who the service is. Without keys the AWS default chain applies (environment,
/// web identity on EKS, instance profile).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// A non-AWS endpoint such as `http://minio:9000`; `None` means AWS itself.
    pub endpoint: Option<String>,
    /// Set explicitly: the SDK refuses to guess, and non-AWS servers accept any real region name.
    pub region: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<Secret>,
    /// `bucket` in the path rather than the host name: what MinIO, SeaweedFS and Ceph expect.
    #[serde(default = "yes")]
    pub force_path_style: bool,
}

fn yes() -> bool {
    true
}

impl S3Config {
    /// A path-style endpoint with static keys: the embedded S3, SeaweedFS, MinIO in tests.
    pub fn local(
        endpoint: impl Into<String>,
        access_key_id: &str,
        secret_access_key: &str,
    ) -> Self {
        Self {
            endpoint: Some(endpoint.into()),
            region: "us-east-1".into(),
            access_key_id: Some(access_key_id.into()),
            secret_access_key: Some(Secret::new(secret_access_key)),
            force_path_style: true,
        }
    }
}

/// Builds the S3 client. The SDK retries throttling and 5xx itself (3 attempts), so callers
/// don't wrap its calls in another retry loop.
pub async fn client(config: &S3Config) -> aws_sdk_s3::Client {
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).region(Region::new(config.region.clone()));
    if let (Some(id), Some(secret)) = (&config.access_key_id, &config.secret_access_key) {
        loader = loader.credentials_provider(Credentials::new(
            id,
            secret.expose(),
            None,
            None,
            "nrt-mesh-config",
        ));
    }
    let shared = loader.load().await;
    let mut builder =
        aws_sdk_s3::config::Builder::from(&shared).force_path_style(config.force_path_style);
    if let Some(endpoint) = &config.endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    aws_sdk_s3::Client::from_conf(builder.build())
}
