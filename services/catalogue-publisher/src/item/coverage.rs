//! Where and when an item is: from the processor's sidecar when it says so, else from the inputs.

use chrono::{DateTime, Utc};
use geo::BooleanOps;
use nrt_events::{JobInput, JobSucceeded};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// An item's time: one instant, or a range with `datetime: null`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemTime {
    Instant(DateTime<Utc>),
    Range {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
}

/// The sidecar fields that override what the inputs say.
#[derive(Debug, Default)]
struct Sidecar {
    geometry: Option<geojson::Geometry>,
    datetime: Option<DateTime<Utc>>,
    start_datetime: Option<DateTime<Utc>>,
    end_datetime: Option<DateTime<Utc>>,
}

impl Sidecar {
    fn of(job: &JobSucceeded) -> Result<Self, String> {
        let fields = match &job.metadata {
            None | Some(Value::Null) => return Ok(Self::default()),
            Some(Value::Object(fields)) => fields,
            Some(other) => {
                return Err(format!(
                    "its metadata sidecar is {}, not a JSON object",
                    kind(other)
                ));
            }
        };
        Ok(Self {
            geometry: field(fields, "geometry", "a GeoJSON geometry")?,
            datetime: field(fields, "datetime", "an RFC 3339 date-time")?,
            start_datetime: field(fields, "start_datetime", "an RFC 3339 date-time")?,
            end_datetime: field(fields, "end_datetime", "an RFC 3339 date-time")?,
        })
    }
}

/// A sidecar field; absent and `null` both mean "not given".
fn field<T: DeserializeOwned>(
    fields: &serde_json::Map<String, Value>,
    name: &str,
    expected: &str,
) -> Result<Option<T>, String> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => serde_json::from_value(value.clone())
            .map(Some)
            .map_err(|error| format!("sidecar field `{name}` is not {expected}: {error}")),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The item geometry: the sidecar's, else the input footprint (several: their union). Inputs
/// without a footprint are skipped; `None` when nothing has one.
pub fn geometry(job: &JobSucceeded) -> Result<Option<geojson::Geometry>, String> {
    if let Some(geometry) = Sidecar::of(job)?.geometry {
        return Ok(Some(geometry));
    }
    let footprints: Vec<(&JobInput, &geojson::Geometry)> = job
        .inputs
        .iter()
        .filter_map(|input| Some((input, input.footprint.as_ref()?)))
        .collect();
    match footprints.as_slice() {
        [] => Ok(None),
        [(_, only)] => Ok(Some((*only).clone())),
        several => union(several).map(Some),
    }
}

fn union(footprints: &[(&JobInput, &geojson::Geometry)]) -> Result<geojson::Geometry, String> {
    let mut merged: Option<geo::MultiPolygon<f64>> = None;
    for (input, footprint) in footprints {
        let area = areal(footprint).map_err(|reason| {
            format!(
                "the footprint of input {} cannot be merged: {reason}",
                input.key
            )
        })?;
        merged = Some(match merged {
            None => area,
            Some(so_far) => so_far.union(&area),
        });
    }
    let merged = merged.expect("called with at least two footprints");
    let value = match <[geo::Polygon<f64>; 1]>::try_from(merged.0) {
        Ok([polygon]) => geojson::GeometryValue::from(&polygon),
        Err(polygons) => geojson::GeometryValue::from(&geo::MultiPolygon(polygons)),
    };
    Ok(geojson::Geometry::new(value))
}

/// A footprint as an area; only areas can be merged into one footprint.
fn areal(footprint: &geojson::Geometry) -> Result<geo::MultiPolygon<f64>, String> {
    match geo::Geometry::<f64>::try_from(footprint).map_err(|error| error.to_string())? {
        geo::Geometry::Polygon(polygon) => Ok(geo::MultiPolygon(vec![polygon])),
        geo::Geometry::MultiPolygon(polygons) => Ok(polygons),
        other => Err(format!(
            "it is a {}, not a Polygon or MultiPolygon",
            geometry_type(&other)
        )),
    }
}

fn geometry_type(geometry: &geo::Geometry<f64>) -> &'static str {
    match geometry {
        geo::Geometry::Point(_) => "Point",
        geo::Geometry::Line(_) | geo::Geometry::LineString(_) => "LineString",
        geo::Geometry::MultiPoint(_) => "MultiPoint",
        geo::Geometry::MultiLineString(_) => "MultiLineString",
        geo::Geometry::GeometryCollection(_) => "GeometryCollection",
        geo::Geometry::Polygon(_)
        | geo::Geometry::MultiPolygon(_)
        | geo::Geometry::Rect(_)
        | geo::Geometry::Triangle(_) => "Polygon",
    }
}

/// The item time: the sidecar's `datetime` or `start_datetime`/`end_datetime`, else the inputs'
/// sensing window (an instant when it has no length).
pub fn time(job: &JobSucceeded) -> Result<ItemTime, String> {
    let sidecar = Sidecar::of(job)?;
    match (
        sidecar.datetime,
        sidecar.start_datetime,
        sidecar.end_datetime,
    ) {
        (Some(instant), _, _) => return Ok(ItemTime::Instant(instant)),
        (None, Some(start), Some(end)) => return range(start, end, "its sidecar's"),
        (None, Some(_), None) | (None, None, Some(_)) => {
            return Err(
                "its sidecar gives only one of start_datetime and end_datetime; give both, or datetime"
                    .into(),
            );
        }
        (None, None, None) => {}
    }
    let start = job.inputs.iter().map(|input| input.sensing_start).min();
    let end = job.inputs.iter().map(|input| input.sensing_end).max();
    match (start, end) {
        (Some(start), Some(end)) => range(start, end, "its inputs'"),
        _ => {
            Err("it has no inputs and its sidecar gives no datetime; a STAC item needs one".into())
        }
    }
}

fn range(start: DateTime<Utc>, end: DateTime<Utc>, whose: &str) -> Result<ItemTime, String> {
    if start == end {
        Ok(ItemTime::Instant(start))
    } else if start < end {
        Ok(ItemTime::Range { start, end })
    } else {
        Err(format!(
            "{whose} time range ends ({end}) before it starts ({start})"
        ))
    }
}
