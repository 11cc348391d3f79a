//! The `[docker]` section of the launcher's configuration.

use serde::Deserialize;

/// Which engine runs the containers and how; every key may be left out.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DockerConfig {
    /// `unix:///var/run/docker.sock`, `tcp://host:2375` or `http://host:2375`; absent: bollard's
    /// defaults, which honour `DOCKER_HOST`.
    pub host: Option<String>,
    pub pull: PullPolicy,
    /// The network containers join (`NetworkMode`); absent: the engine's default bridge.
    pub network: Option<String>,
    /// `uid:gid` the container runs as; absent: the launcher's own, so whatever the container
    /// writes in the mounted job directory stays removable by the launcher.
    pub user: Option<String>,
}

/// When the engine pulls an attempt's image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PullPolicy {
    /// Pull only when the engine does not have the image.
    #[default]
    IfMissing,
    /// Pull before every attempt, so a moved tag is followed.
    Always,
    /// Never pull: images are loaded by other means (air-gapped hosts).
    Never,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Section {
        #[serde(default)]
        docker: DockerConfig,
    }

    #[test]
    fn an_absent_section_means_bollard_defaults_and_pull_if_missing() {
        let section: Section = serde_json::from_str("{}").unwrap();
        assert_eq!(section.docker, DockerConfig::default());
        assert_eq!(section.docker.pull, PullPolicy::IfMissing);
    }

    #[test]
    fn every_key_is_read() {
        let config: DockerConfig = serde_json::from_str(
            r#"{"host": "tcp://docker:2375", "pull": "always", "network": "nrt", "user": "1000:1000"}"#,
        )
        .unwrap();
        assert_eq!(
            config,
            DockerConfig {
                host: Some("tcp://docker:2375".into()),
                pull: PullPolicy::Always,
                network: Some("nrt".into()),
                user: Some("1000:1000".into()),
            }
        );
        let never: DockerConfig = serde_json::from_str(r#"{"pull": "never"}"#).unwrap();
        assert_eq!(never.pull, PullPolicy::Never);
    }

    #[test]
    fn unknown_keys_and_policies_are_refused() {
        let typo = serde_json::from_str::<DockerConfig>(r#"{"hots": "tcp://docker:2375"}"#);
        assert!(
            typo.unwrap_err()
                .to_string()
                .contains("unknown field `hots`")
        );
        let policy = serde_json::from_str::<DockerConfig>(r#"{"pull": "sometimes"}"#);
        assert!(
            policy
                .unwrap_err()
                .to_string()
                .contains("unknown variant `sometimes`")
        );
    }
}
