use serde_json::json;

use super::*;
use crate::golden::{
    S1_AUX_INS, S1_GRD_ASCENDING, S1_GRD_COG, S2_L1C_54PXA, S2_L1C_55PBR, S2_L2A_13VEK, product,
};

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn hours(clock: HourClock, start: f64, end: f64) -> SensingHours {
    SensingHours { clock, start, end }
}

/// `Ok` or the mismatch as an operator reads it.
fn within(hours: SensingHours, product: &ProductDiscovered) -> Result<(), String> {
    hours
        .check(product)
        .map_err(|mismatch| mismatch.to_string())
}

fn young(max_age: &str, product: &ProductDiscovered, now: &str) -> Result<(), String> {
    let max_age = humantime::parse_duration(max_age).unwrap();
    check_age(max_age, product, at(now)).map_err(|mismatch| mismatch.to_string())
}

#[test]
fn max_age_counts_from_the_end_of_sensing_to_now() {
    // Sensing ended at 2020-08-08T01:03:11.024Z.
    let s2 = product(S2_L1C_54PXA);
    assert_eq!(young("6h", &s2, "2020-08-08T07:03:11.024Z"), Ok(()));
    assert_eq!(
        young("6h", &s2, "2020-08-08T09:00:00Z").unwrap_err(),
        "sensing ended 7h 56m ago (2020-08-08T01:03:11Z), more than the 6h allowed"
    );
    assert_eq!(
        young("30m", &s2, "2020-08-08T00:00:00Z"),
        Ok(()),
        "a clock behind the satellite's makes no product old"
    );
}

#[test]
fn a_late_product_is_too_old_when_published() {
    // This L2A was reprocessed and published three years after its sensing.
    let l2a = product(S2_L2A_13VEK);
    let published = l2a.published_at.to_rfc3339();
    assert_eq!(
        young("2d", &l2a, &published).unwrap_err(),
        "sensing ended 1074d 19h ago (2022-02-17T18:34:31Z), more than the 2d allowed"
    );
    let s1 = product(S1_GRD_ASCENDING);
    assert_eq!(young("12h", &s1, &s1.published_at.to_rfc3339()), Ok(()));
}

#[test]
fn utc_hours_take_the_middle_of_sensing() {
    // Sensed from 01:24:39 to 01:25:08 UTC.
    let s1 = product(S1_GRD_ASCENDING);
    assert_eq!(within(hours(HourClock::Utc, 1.0, 2.0), &s1), Ok(()));
    assert_eq!(
        within(hours(HourClock::Utc, 6.0, 18.0), &s1).unwrap_err(),
        "sensed at 01:24 UTC, outside 06:00 to 18:00 UTC"
    );
    assert_eq!(
        within(hours(HourClock::Utc, 1.415, 2.0), &s1).unwrap_err(),
        "sensed at 01:24 UTC, outside 01:24 to 02:00 UTC",
        "the middle, 01:24:54, is before 01:24:54.0"
    );
}

#[test]
fn a_window_wraps_midnight_when_it_ends_before_it_starts() {
    let night = hours(HourClock::Utc, 22.0, 4.0);
    assert_eq!(within(night, &product(S1_GRD_ASCENDING)), Ok(()));
    assert_eq!(
        within(night, &product(S2_L2A_13VEK)).unwrap_err(),
        "sensed at 18:34 UTC, outside 22:00 to 04:00 UTC"
    );
    let evening = hours(HourClock::Utc, 18.5, 24.0);
    assert_eq!(within(evening, &product(S2_L2A_13VEK)), Ok(()));
    assert_eq!(
        within(hours(HourClock::Utc, 0.0, 18.5), &product(S2_L2A_13VEK)).unwrap_err(),
        "sensed at 18:34 UTC, outside 00:00 to 18:30 UTC"
    );
}

#[test]
fn local_solar_hours_tell_daytime_passes_from_dusk_ones() {
    let daytime = hours(HourClock::LocalSolar, 6.0, 18.0);
    // Sentinel-2 passes in the late morning: 18:34 UTC over Canada, 01:03 UTC over Guam.
    for stem in [S2_L2A_13VEK, S2_L1C_54PXA, S2_L1C_55PBR] {
        assert_eq!(within(daytime, &product(stem)), Ok(()), "{stem}");
    }
    // Sentinel-1's ascending passes cross the equator at dusk.
    assert_eq!(
        within(daytime, &product(S1_GRD_ASCENDING)).unwrap_err(),
        "sensed at 18:02 local solar time (footprint centred at longitude -110.6), outside \
         06:00 to 18:00 local solar time"
    );
    assert_eq!(
        within(daytime, &product(S1_GRD_COG)).unwrap_err(),
        "sensed at 18:10 local solar time (footprint centred at longitude -89.1), outside \
         06:00 to 18:00 local solar time"
    );
    assert_eq!(
        within(
            hours(HourClock::LocalSolar, 11.5, 12.0),
            &product(S2_L2A_13VEK)
        ),
        Ok(()),
        "18:34 UTC at longitude -103.9 is 11:38"
    );
}

#[test]
fn local_solar_hours_need_a_footprint() {
    assert_eq!(
        within(
            hours(HourClock::LocalSolar, 6.0, 18.0),
            &product(S1_AUX_INS)
        )
        .unwrap_err(),
        "product has no footprint, which local solar hours needs"
    );
    let mut point = product(S2_L1C_54PXA);
    point.footprint = Some(
        serde_json::from_value(json!({ "type": "Point", "coordinates": [142.6, 13.8] })).unwrap(),
    );
    assert_eq!(
        within(hours(HourClock::LocalSolar, 6.0, 18.0), &point).unwrap_err(),
        "footprint is a Point, not a Polygon or MultiPolygon"
    );
}

#[test]
fn local_solar_time_across_the_antimeridian_is_near_utc_plus_12() {
    // Made up, for no recorded product crosses the antimeridian: tile 54PXA moved over Fiji and
    // sensed at 22:00 UTC, about 10:00 there. Centred at 0° instead, it would be 22:00.
    let footprints = [
        json!({ "type": "Polygon", "coordinates": [[
            [179.40, -16.29], [-179.57, -16.30], [-179.58, -17.29], [179.39, -17.28], [179.40, -16.29]
        ]]}),
        json!({ "type": "MultiPolygon", "coordinates": [
            [[[179.40, -16.29], [180.0, -16.2958], [180.0, -17.2858], [179.39, -17.28], [179.40, -16.29]]],
            [[[-180.0, -16.2958], [-179.57, -16.30], [-179.58, -17.29], [-180.0, -17.2858], [-180.0, -16.2958]]]
        ]}),
    ];
    for footprint in footprints {
        let mut fiji = product(S2_L1C_54PXA);
        fiji.footprint = Some(serde_json::from_value(footprint).unwrap());
        fiji.sensing_start = at("2020-08-07T22:00:00Z");
        fiji.sensing_end = fiji.sensing_start;
        assert_eq!(
            within(hours(HourClock::LocalSolar, 9.5, 10.5), &fiji),
            Ok(())
        );
        assert_eq!(
            within(hours(HourClock::LocalSolar, 18.0, 6.0), &fiji).unwrap_err(),
            "sensed at 09:59 local solar time (footprint centred at longitude 179.9), outside \
             18:00 to 06:00 local solar time"
        );
    }
}

#[test]
fn durations_read_as_rules_files_write_them() {
    let cases = [
        (0, "0s"),
        (45, "45s"),
        (3_600 * 6, "6h"),
        (3_600 * 3 + 60 * 12 + 5, "3h 12m"),
        (86_400 * 2 + 60 * 30, "2d"),
        (86_400 * 2 + 3_600 * 4 + 59, "2d 4h"),
    ];
    for (seconds, text) in cases {
        assert_eq!(short_duration(Duration::from_secs(seconds)), text);
    }
    assert_eq!(clock_time(18.5), "18:30");
    assert_eq!(clock_time(24.0), "24:00");
}
