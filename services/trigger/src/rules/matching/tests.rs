use nrt_events::ProductDiscovered;
use serde_json::json;

use super::*;
use crate::golden::{
    S1_AUX_INS, S1_GRD_ASCENDING, S1_GRD_NEXT_SLICE, S2_L1C_54PXA, S2_L1C_55PBR, S2_L2A_13VEK,
    product,
};
use crate::rules::Pattern;

fn compare(attribute: &str, op: Op, value: Operand) -> Condition {
    Condition::Attribute(Comparison {
        attribute: attribute.into(),
        op,
        value,
    })
}

fn number(value: f64) -> Operand {
    Operand::Number(value)
}

fn text(value: &str) -> Operand {
    Operand::Text(value.into())
}

fn numbers(values: &[f64]) -> Operand {
    Operand::List(values.iter().copied().map(Operand::Number).collect())
}

fn texts(values: &[&str]) -> Operand {
    Operand::List(values.iter().copied().map(text).collect())
}

fn pattern(source: &str) -> Operand {
    Operand::Pattern(Pattern::new(source).unwrap())
}

/// `Ok` or the mismatch as an operator reads it.
fn verdict(condition: &Condition, product: &ProductDiscovered) -> Result<(), String> {
    condition
        .check(product, chrono::Utc::now())
        .map_err(|mismatch| mismatch.to_string())
}

#[test]
fn a_collection_condition_accepts_any_listed_collection() {
    let s2 = product(S2_L1C_54PXA);
    let s1 = product(S1_GRD_ASCENDING);
    let sentinel_2 = Condition::Collection {
        any_of: vec!["SENTINEL-2".into()],
    };
    let either = Condition::Collection {
        any_of: vec!["SENTINEL-1".into(), "SENTINEL-2".into()],
    };
    assert_eq!(verdict(&sentinel_2, &s2), Ok(()));
    assert_eq!(verdict(&either, &s1), Ok(()));
    assert_eq!(
        verdict(&sentinel_2, &s1).unwrap_err(),
        "collection SENTINEL-1 not in [SENTINEL-2]"
    );
    let lower_case = Condition::Collection {
        any_of: vec!["sentinel-2".into()],
    };
    assert!(
        verdict(&lower_case, &s2).is_err(),
        "names are case-sensitive"
    );
}

#[test]
fn a_product_type_condition_accepts_any_listed_type() {
    let s2 = product(S2_L1C_54PXA);
    let aux = product(S1_AUX_INS);
    let l1c = Condition::ProductType {
        any_of: vec!["S2MSI1C".into()],
    };
    assert_eq!(verdict(&l1c, &s2), Ok(()));
    let l2a = Condition::ProductType {
        any_of: vec!["S2MSI2A".into()],
    };
    assert_eq!(
        verdict(&l2a, &s2).unwrap_err(),
        "product type S2MSI1C not in [S2MSI2A]"
    );
    assert_eq!(
        verdict(&l1c, &aux).unwrap_err(),
        "product type AUX_INS not in [S2MSI1C]"
    );
}

#[test]
fn every_op_compares_a_float_attribute_numerically() {
    // cloudCover is 95.136736479015 on this granule.
    let s2 = product(S2_L1C_54PXA);
    let holds = [
        (Op::Eq, 95.136736479015),
        (Op::Ne, 95.0),
        (Op::Lt, 100.0),
        (Op::Le, 95.136736479015),
        (Op::Gt, 95.1),
        (Op::Ge, 95.136736479015),
    ];
    for (op, value) in holds {
        assert_eq!(
            verdict(&compare("cloudCover", op, number(value)), &s2),
            Ok(()),
            "{op} {value}"
        );
    }
    let fails = [
        (Op::Eq, 95.0, "cloudCover 95.136736479015 is not eq 95"),
        (
            Op::Ne,
            95.136736479015,
            "cloudCover 95.136736479015 is not ne 95.136736479015",
        ),
        (Op::Lt, 95.1, "cloudCover 95.136736479015 is not lt 95.1"),
        (Op::Le, 80.0, "cloudCover 95.136736479015 is not le 80"),
        (Op::Gt, 99.5, "cloudCover 95.136736479015 is not gt 99.5"),
        (Op::Ge, 96.0, "cloudCover 95.136736479015 is not ge 96"),
    ];
    for (op, value, reason) in fails {
        assert_eq!(
            verdict(&compare("cloudCover", op, number(value)), &s2).unwrap_err(),
            reason
        );
    }
}

#[test]
fn integers_and_floats_compare_as_numbers_whatever_their_json_form() {
    let float_form = product(S1_GRD_ASCENDING);
    let integer_form = product(S1_GRD_NEXT_SLICE);
    assert_eq!(
        float_form.attributes["completionTimeFromAscendingNode"],
        json!(505641.4)
    );
    assert_eq!(
        integer_form.attributes["completionTimeFromAscendingNode"],
        json!(539530)
    );
    let late_in_orbit = compare("completionTimeFromAscendingNode", Op::Ge, number(500000.0));
    assert_eq!(verdict(&late_in_orbit, &float_form), Ok(()));
    assert_eq!(verdict(&late_in_orbit, &integer_form), Ok(()));
    // relativeOrbitNumber is the integer 20; the rule's value may be written as a float.
    assert_eq!(
        verdict(
            &compare("relativeOrbitNumber", Op::Eq, number(20.0)),
            &float_form
        ),
        Ok(())
    );
    assert_eq!(
        verdict(
            &compare("relativeOrbitNumber", Op::Lt, number(20.5)),
            &float_form
        ),
        Ok(())
    );
    assert_eq!(
        verdict(
            &compare("relativeOrbitNumber", Op::Gt, number(20.5)),
            &float_form
        )
        .unwrap_err(),
        "relativeOrbitNumber 20 is not gt 20.5"
    );
}

#[test]
fn strings_compare_exactly_and_case_sensitively() {
    let s1 = product(S1_GRD_ASCENDING);
    assert_eq!(
        verdict(&compare("orbitDirection", Op::Eq, text("ASCENDING")), &s1),
        Ok(())
    );
    assert_eq!(
        verdict(&compare("orbitDirection", Op::Ne, text("DESCENDING")), &s1),
        Ok(())
    );
    assert_eq!(
        verdict(&compare("orbitDirection", Op::Eq, text("ascending")), &s1).unwrap_err(),
        r#"orbitDirection "ASCENDING" is not eq "ascending""#
    );
    assert_eq!(
        verdict(&compare("polarisationChannels", Op::Eq, text("VV")), &s1).unwrap_err(),
        r#"polarisationChannels "VV&VH" is not eq "VV""#,
        "no prefix or substring matching"
    );
    let s2 = product(S2_L1C_55PBR);
    assert_eq!(
        verdict(&compare("tileId", Op::Ne, text("54PXA")), &s2),
        Ok(())
    );
}

#[test]
fn booleans_compare_with_eq_and_ne() {
    let s1 = product(S1_GRD_ASCENDING);
    assert_eq!(
        verdict(
            &compare("sliceProductFlag", Op::Eq, Operand::Bool(false)),
            &s1
        ),
        Ok(())
    );
    assert_eq!(
        verdict(
            &compare("sliceProductFlag", Op::Ne, Operand::Bool(false)),
            &s1
        )
        .unwrap_err(),
        "sliceProductFlag false is not ne false"
    );
}

#[test]
fn a_missing_attribute_never_matches_whatever_the_op() {
    // Auxiliary products carry no cloud cover and no orbit direction.
    let aux = product(S1_AUX_INS);
    for op in [Op::Eq, Op::Ne, Op::Lt, Op::Le, Op::Gt, Op::Ge] {
        assert_eq!(
            verdict(&compare("cloudCover", op, number(80.0)), &aux).unwrap_err(),
            "attribute cloudCover missing"
        );
    }
    assert_eq!(
        verdict(&compare("orbitDirection", Op::Ne, text("DESCENDING")), &aux).unwrap_err(),
        "attribute orbitDirection missing"
    );
}

#[test]
fn a_type_mismatch_never_matches_and_says_why() {
    let s1 = product(S1_GRD_ASCENDING);
    assert_eq!(
        verdict(&compare("orbitDirection", Op::Eq, number(1.0)), &s1).unwrap_err(),
        r#"orbitDirection is the string "ASCENDING", not comparable with the number 1"#
    );
    assert_eq!(
        verdict(&compare("orbitDirection", Op::Ne, number(1.0)), &s1).unwrap_err(),
        r#"orbitDirection is the string "ASCENDING", not comparable with the number 1"#,
        "ne too: a mismatch is not an inequality"
    );
    assert_eq!(
        verdict(&compare("relativeOrbitNumber", Op::Eq, text("20")), &s1).unwrap_err(),
        r#"relativeOrbitNumber is the number 20, not comparable with the string "20""#
    );
    assert_eq!(
        verdict(&compare("sliceProductFlag", Op::Eq, number(0.0)), &s1).unwrap_err(),
        "sliceProductFlag is the boolean false, not comparable with the number 0"
    );

    // A feed may send null for an attribute it has no value for.
    let mut nulled = product(S2_L1C_54PXA);
    nulled
        .attributes
        .insert("cloudCover".into(), serde_json::Value::Null);
    assert_eq!(
        verdict(&compare("cloudCover", Op::Le, number(80.0)), &nulled).unwrap_err(),
        "cloudCover is null, not comparable with the number 80"
    );
}

#[test]
fn a_platform_condition_accepts_any_listed_platform() {
    let s2a = Condition::Platform {
        any_of: vec!["SENTINEL-2A".into(), "SENTINEL-2B".into()],
    };
    assert_eq!(verdict(&s2a, &product(S2_L1C_54PXA)), Ok(()));
    assert_eq!(
        verdict(&s2a, &product(S2_L2A_13VEK)),
        Ok(()),
        "STAC feeds say it too"
    );
    assert_eq!(
        verdict(&s2a, &product(S1_GRD_ASCENDING)).unwrap_err(),
        "platform SENTINEL-1A not in [SENTINEL-2A, SENTINEL-2B]"
    );
    // A feed may not say which unit sensed the product.
    let mut unknown = product(S2_L1C_54PXA);
    unknown.platform = None;
    assert_eq!(
        verdict(&s2a, &unknown).unwrap_err(),
        "platform unknown, so not in [SENTINEL-2A, SENTINEL-2B]"
    );
}

#[test]
fn in_accepts_an_attribute_equal_to_any_listed_number() {
    // relativeOrbitNumber is the integer 20 on this slice, 45 on the Sentinel-2 granules.
    let s1 = product(S1_GRD_ASCENDING);
    let orbits = compare("relativeOrbitNumber", Op::In, numbers(&[20.0, 45.0]));
    assert_eq!(verdict(&orbits, &s1), Ok(()));
    assert_eq!(verdict(&orbits, &product(S2_L1C_55PBR)), Ok(()));
    assert_eq!(
        verdict(
            &compare("relativeOrbitNumber", Op::In, numbers(&[21.0, 130.0])),
            &s1
        )
        .unwrap_err(),
        "relativeOrbitNumber 20 is not in [21, 130]"
    );
    assert_eq!(
        verdict(
            &compare(
                "completionTimeFromAscendingNode",
                Op::In,
                numbers(&[505641.4])
            ),
            &s1
        ),
        Ok(()),
        "floats compare numerically too"
    );
}

#[test]
fn in_accepts_an_attribute_equal_to_any_listed_string() {
    let tiles = compare("tileId", Op::In, texts(&["54PXA", "55PBR"]));
    assert_eq!(verdict(&tiles, &product(S2_L1C_54PXA)), Ok(()));
    assert_eq!(verdict(&tiles, &product(S2_L1C_55PBR)), Ok(()));
    assert_eq!(
        verdict(
            &compare("tileId", Op::In, texts(&["54pxa", "55PB"])),
            &product(S2_L1C_54PXA)
        )
        .unwrap_err(),
        r#"tileId "54PXA" is not in ["54pxa", "55PB"]"#,
        "exact and case-sensitive"
    );
    assert_eq!(
        verdict(&tiles, &product(S1_AUX_INS)).unwrap_err(),
        "attribute tileId missing"
    );
}

#[test]
fn in_never_matches_across_types() {
    let s1 = product(S1_GRD_ASCENDING);
    assert_eq!(
        verdict(&compare("relativeOrbitNumber", Op::In, texts(&["20"])), &s1).unwrap_err(),
        r#"relativeOrbitNumber is the number 20, not comparable with the strings ["20"]"#
    );
    assert_eq!(
        verdict(
            &compare("orbitDirection", Op::In, numbers(&[1.0, 2.0])),
            &s1
        )
        .unwrap_err(),
        r#"orbitDirection is the string "ASCENDING", not comparable with the numbers [1, 2]"#
    );
}

#[test]
fn matches_needs_the_whole_string_to_match() {
    let s2 = product(S2_L1C_54PXA);
    assert_eq!(
        verdict(&compare("tileId", Op::Matches, pattern("5[45]P..")), &s2),
        Ok(())
    );
    assert_eq!(
        verdict(&compare("tileId", Op::Matches, pattern("54P|55P")), &s2).unwrap_err(),
        r#"tileId "54PXA" does not match "54P|55P""#,
        "anchored around the alternation too"
    );
    assert_eq!(
        verdict(&compare("tileId", Op::Matches, pattern("PXA")), &s2).unwrap_err(),
        r#"tileId "54PXA" does not match "PXA""#
    );
    let s1 = product(S1_GRD_ASCENDING);
    assert_eq!(
        verdict(
            &compare("polarisationChannels", Op::Matches, pattern("VV(&VH)?")),
            &s1
        ),
        Ok(())
    );
    assert_eq!(
        verdict(
            &compare("orbitDirection", Op::Matches, pattern("(?i)ascending")),
            &s1
        ),
        Ok(()),
        "flags in the pattern work"
    );
}

#[test]
fn matches_never_matches_a_number_or_a_missing_attribute() {
    assert_eq!(
        verdict(
            &compare("relativeOrbitNumber", Op::Matches, pattern("2.")),
            &product(S1_GRD_ASCENDING)
        )
        .unwrap_err(),
        r#"relativeOrbitNumber is the number 20, not comparable with the pattern "2.""#
    );
    assert_eq!(
        verdict(
            &compare("tileId", Op::Matches, pattern(".*")),
            &product(S1_AUX_INS)
        )
        .unwrap_err(),
        "attribute tileId missing"
    );
}
