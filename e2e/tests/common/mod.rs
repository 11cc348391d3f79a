//! What the end-to-end tests share: the recorded feed under the test rules, and the processor's
//! run log.

use std::{collections::BTreeSet, time::Duration};

use nrt_cdse_replay::{ReleaseSchedule, ReplayFeed};
use nrt_e2e::mesh::{MeshOptions, MeshUnderTest};
use nrt_nats::SyncInterval;

pub const WAIT: Duration = Duration::from_secs(90);

/// The recorded products the test rules select: both Sentinel-2 L1C tiles and the three
/// Sentinel-1A ascending IW GRD slices (the other 17 slices are Sentinel-1C; 17 are auxiliary).
pub const SELECTED: [&str; 5] = [
    "S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505",
    "S2A_MSIL1C_20200808T010311_N0500_R045_T55PBR_20230413T212505",
    "S1A_IW_GRDH_1SDV_20260101T012439_20260101T012508_062567_07D772_8DAD",
    "S1A_IW_GRDH_1SDV_20260101T012508_20260101T012542_062567_07D772_7994",
    "S1A_IW_GRDH_1SDV_20260121T231638_20260121T231703_062872_07E2FE_A004",
];

pub fn selected() -> BTreeSet<String> {
    SELECTED.iter().map(|key| (*key).to_owned()).collect()
}

/// The recorded CDSE feed, the test rules, and the footprint processor behind a wrapper that
/// counts its runs in `{dir}/runs.log`.
pub fn recorded_mesh(extra_rules: &str) -> MeshOptions {
    MeshOptions {
        feed: ReplayFeed::recorded(),
        schedule: ReleaseSchedule::All,
        rules: format!(
            "{}\n{extra_rules}",
            include_str!("../../fixtures/rules.toml")
        ),
        processors: include_str!("../../fixtures/processors.toml").into(),
        files: vec![(
            "count-runs.sh".into(),
            include_str!("../../fixtures/count-runs.sh").into(),
            true,
        )],
        sync_interval: SyncInterval::Always,
        traces: true,
        concurrency: 4,
        alert_after_failures: 3,
    }
}

/// The lines of the processor run log: one job id per run.
pub fn runs(mesh: &MeshUnderTest) -> Vec<String> {
    std::fs::read_to_string(mesh.dir.path().join("runs.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}
