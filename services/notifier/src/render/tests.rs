//! Messages as people read them, from events as they arrive.

use nrt_events::Severity;

use super::*;
use crate::fixtures::{alert, item_event, job_dead, job_failed, notification_of};

#[test]
fn a_published_item_says_what_where_the_link_the_trace_and_the_time() {
    let message = render(&item_event());
    assert_eq!(
        message.subject,
        "Published: footprint item S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505"
    );
    assert_eq!(
        message.plain_text(),
        "A new item is in the catalogue: S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505 in collection footprint, made by footprint.

Collection: footprint
Item:       S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505
Processor:  footprint (job 6d1f)
Area:       west 142.352793016856, south 13.4725397858819, east 142.943807935726, north 14.188872888287
Inputs:     S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505
Acquired:   2020-08-08T01:03:11Z
Catalogue:  s3://nrt-catalogue/stac/footprint/items/S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505.json
Time:       2026-03-02T10:15:04Z
Trace id:   4bf92f3577b34da6a3ce929d0e0e4736
"
    );
}

#[test]
fn a_failed_job_says_why_and_whether_it_is_tried_again() {
    let message = render(&notification_of(job_failed("snow-cover")));
    assert_eq!(message.subject, "Job failed: snow-cover (attempt 1)");
    assert_eq!(
        message.summary,
        "Processor snow-cover failed on attempt 1: exit code 3. It will be tried again."
    );
    let text = message.plain_text();
    assert!(text.contains("Processor: snow-cover 1.2.0\n"), "{text}");
    assert!(
        text.contains("Inputs:    S2B_MSIL2A_20260101T101329\n"),
        "{text}"
    );
    assert!(text.contains("Exit code: 3\n"), "{text}");
    // Each line of the log under the first, aligned.
    assert!(
        text.contains("Log:       reading bands\n           no snow mask\n"),
        "{text}"
    );
    assert_eq!(message.link, None);
}

#[test]
fn a_dead_job_says_how_to_retry_it() {
    let message = render(&notification_of(job_dead("snow-cover")));
    assert_eq!(message.subject, "Job dead: snow-cover after 3 attempts");
    assert!(
        message.summary.contains("used its 3 attempts"),
        "{}",
        message.summary
    );
    assert!(
        message.summary.contains("nrtmesh retry"),
        "{}",
        message.summary
    );
    assert!(
        message
            .facts
            .contains(&("Job", "0f3c5a1e9b7d4c2a8e6f1b3d5c7a9e0f".to_owned()))
    );
}

#[test]
fn an_alert_shows_its_severity_first() {
    let message = render(&notification_of(alert(Severity::Critical, "feed-stalled")));
    assert_eq!(message.subject, "[CRITICAL] feed-stalled: cdse");
    assert_eq!(
        message.summary,
        "Feed cdse has not answered for 10 minutes."
    );
    let text = message.plain_text();
    assert!(text.contains("Raised by: ingestor\n"), "{text}");
    assert!(text.contains("Raised at: 2026-01-01T12:00:00Z\n"), "{text}");
}

#[test]
fn a_digest_lists_each_event_under_its_subject() {
    let events = [
        item_event(),
        notification_of(job_dead("snow-cover")),
        notification_of(alert(Severity::Warning, "feed-stalled")),
    ];
    let digest = render_digest("ops", &events);
    assert_eq!(digest.subject, "3 notifications for ops");
    let text = digest.plain_text();
    assert!(
        text.starts_with("3 notifications for ops\n\n1. Published: footprint item"),
        "{text}"
    );
    assert!(
        text.contains("\n2. Job dead: snow-cover after 3 attempts\n"),
        "{text}"
    );
    assert!(
        text.contains("\n3. [WARNING] feed-stalled: cdse\n"),
        "{text}"
    );
    assert!(
        text.contains("Trace id:   4bf92f3577b34da6a3ce929d0e0e4736"),
        "{text}"
    );
    assert_eq!(
        render_digest("ops", &events[..1]).subject,
        "1 notification for ops"
    );
}
