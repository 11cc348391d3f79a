//! The chat text: readable, linked, escaped.

use nrt_events::Severity;

use super::*;
use crate::{
    fixtures::{alert, item, item_event, notification_of},
    render::{render, render_digest},
};

#[test]
fn an_item_links_to_the_catalogue_and_shows_the_trace_id_as_code() {
    let mut notification = item_event();
    notification.trace_id = Some("4bf92f3577b34da6a3ce929d0e0e4736".into());
    let mut message = render(&notification);
    message.link = Some("https://stac.example.org/collections/footprint/items/x".into());
    let text = text(&message);
    assert!(
        text.starts_with("Published: footprint item S2A_MSIL1C_"),
        "{text}"
    );
    assert!(text.contains("\nCollection: footprint\n"), "{text}");
    assert!(
        text.contains("\nTrace id: `4bf92f3577b34da6a3ce929d0e0e4736`"),
        "{text}"
    );
    assert!(
        text.ends_with(
            "\n<https://stac.example.org/collections/footprint/items/x|Open in the catalogue>"
        ),
        "{text}"
    );
}

#[test]
fn an_s3_href_is_shown_not_linked() {
    let text = text(&render(&item_event()));
    assert!(
        text.ends_with("\nCatalogue: s3://nrt-catalogue/stac/footprint/items/S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505.json"),
        "{text}"
    );
}

#[test]
fn markup_in_event_data_is_escaped() {
    let mut raised = alert(Severity::Warning, "feed-stalled");
    raised.message = "<!channel> 5 > 3 & <https://evil.example|click>".into();
    let text = text(&render(&notification_of(raised)));
    assert!(
        text.contains("&lt;!channel&gt; 5 &gt; 3 &amp; &lt;https://evil.example|click&gt;"),
        "{text}"
    );
}

#[test]
fn a_digest_is_one_line_per_event() {
    let events = [
        notification_of(item("snow", "snow-cover")),
        notification_of(alert(Severity::Critical, "feed-stalled")),
    ];
    let text = digest_text(&render_digest("ops", &events));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[0], "2 notifications for ops");
    assert!(
        lines[1].ends_with(
            "— <https://stac.example.org/collections/snow/items/x|Open in the catalogue>"
        ),
        "{text}"
    );
    assert_eq!(lines[2], "• [CRITICAL] feed-stalled: cdse");
}
