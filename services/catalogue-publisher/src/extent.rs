//! A collection's extent: its first item's, grown by every later one. The static catalogue and
//! the STAC API target keep their collections' extents the same way.

use chrono::{DateTime, Utc};
use stac::{Bbox, Extent, Item};

use crate::item::{ItemTime, item_time};

type Interval = [Option<DateTime<Utc>>; 2];

/// The extent of a collection holding only `item`: its bbox (the whole world when it has no
/// geometry, as nothing narrower is known) and its time.
pub fn of_item(item: &Item) -> Extent {
    let mut extent = Extent::default();
    extent.spatial.bbox = vec![item.bbox.unwrap_or_default()];
    extent.temporal.interval = vec![interval_of(item)];
    extent
}

/// Grows `extent` to cover `item`; `false` when it already did.
pub fn grow(extent: &mut Extent, item: &Item) -> bool {
    let before = extent.clone();
    if let Some(bbox) = item.bbox {
        grow_bbox(&mut extent.spatial.bbox, bbox);
    }
    let [start, end] = interval_of(item);
    grow_interval(&mut extent.temporal.interval, start, end);
    *extent != before
}

/// Whether `extent` already covers `item`.
pub fn covers(extent: &Extent, item: &Item) -> bool {
    !grow(&mut extent.clone(), item)
}

fn interval_of(item: &Item) -> Interval {
    match item_time(item) {
        Some(ItemTime::Instant(instant)) => [Some(instant), Some(instant)],
        Some(ItemTime::Range { start, end }) => [Some(start), Some(end)],
        None => [None, None],
    }
}

fn grow_bbox(boxes: &mut Vec<Bbox>, bbox: Bbox) {
    match boxes.first_mut() {
        Some(overall) => overall.update(bbox),
        None => boxes.push(bbox),
    }
}

fn grow_interval(
    intervals: &mut Vec<Interval>,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
) {
    let Some(overall) = intervals.first_mut() else {
        intervals.push([start, end]);
        return;
    };
    if let Some(start) = start
        && overall[0].is_none_or(|known| start < known)
    {
        overall[0] = Some(start);
    }
    if let Some(end) = end
        && overall[1].is_none_or(|known| end > known)
    {
        overall[1] = Some(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(bbox: [f64; 4], start: &str, end: &str) -> Item {
        let mut item = Item::new("i");
        item.bbox = Some(Bbox::TwoDimensional(bbox));
        item.properties.datetime = None;
        item.properties.start_datetime = Some(start.parse().unwrap());
        item.properties.end_datetime = Some(end.parse().unwrap());
        item
    }

    fn at(text: &str) -> Option<DateTime<Utc>> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn a_first_item_gives_its_own_extent() {
        let first = item(
            [1.0, 2.0, 3.0, 4.0],
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:01:00Z",
        );
        let extent = of_item(&first);
        assert_eq!(
            extent.spatial.bbox,
            [Bbox::TwoDimensional([1.0, 2.0, 3.0, 4.0])]
        );
        assert_eq!(
            extent.temporal.interval,
            [[at("2026-01-01T00:00:00Z"), at("2026-01-01T00:01:00Z")]]
        );
    }

    #[test]
    fn an_item_outside_grows_the_extent_and_one_inside_does_not() {
        let mut extent = of_item(&item(
            [1.0, 2.0, 3.0, 4.0],
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:01:00Z",
        ));
        let inside = item(
            [1.5, 2.5, 3.0, 4.0],
            "2026-01-01T00:00:10Z",
            "2026-01-01T00:00:20Z",
        );
        assert!(covers(&extent, &inside));
        assert!(!grow(&mut extent, &inside));

        let west_and_later = item(
            [0.0, 2.0, 2.0, 4.0],
            "2026-01-01T00:00:30Z",
            "2026-01-02T00:00:00Z",
        );
        assert!(!covers(&extent, &west_and_later));
        assert!(grow(&mut extent, &west_and_later));
        assert_eq!(
            extent.spatial.bbox,
            [Bbox::TwoDimensional([0.0, 2.0, 3.0, 4.0])]
        );
        assert_eq!(
            extent.temporal.interval,
            [[at("2026-01-01T00:00:00Z"), at("2026-01-02T00:00:00Z")]]
        );
        assert!(covers(&extent, &west_and_later));
    }

    #[test]
    fn an_item_without_geometry_grows_only_the_interval() {
        let mut extent = of_item(&item(
            [1.0, 2.0, 3.0, 4.0],
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:01:00Z",
        ));
        let mut orbit = item([0.0; 4], "2025-12-31T00:00:00Z", "2026-01-01T00:00:00Z");
        orbit.bbox = None;
        assert!(grow(&mut extent, &orbit));
        assert_eq!(
            extent.spatial.bbox,
            [Bbox::TwoDimensional([1.0, 2.0, 3.0, 4.0])]
        );
        assert_eq!(extent.temporal.interval[0][0], at("2025-12-31T00:00:00Z"));
    }
}
