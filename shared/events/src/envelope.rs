use chrono::{DateTime, Utc};
use cloudevents::{AttributesReader, Data, EventBuilder, EventBuilderV10};
use serde::{Serialize, de::DeserializeOwned};

/// Every nrt-mesh event type starts with this; the last dotted part is the version (`v1`).
pub const TYPE_PREFIX: &str = "eu.nrtmesh.";

/// The data of one kind of event: its CloudEvents type, where it is published, and its identity.
pub trait EventData: Serialize + DeserializeOwned {
    /// The versioned CloudEvents `type`, e.g. `eu.nrtmesh.product.discovered.v1`.
    const TYPE: &'static str;

    /// The NATS subject this event is published on.
    fn subject(&self) -> String;

    /// A deterministic id: the same fact always gets the same id, so JetStream drops repeats.
    fn event_id(&self) -> String;

    /// The CloudEvents `subject` attribute: what the event is about, for humans and filters.
    fn about(&self) -> Option<String> {
        None
    }
}

/// A typed event with its CloudEvents attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope<T> {
    pub id: String,
    /// The producer, as a URI reference such as `/nrt-mesh/ingestor`.
    pub source: String,
    pub time: DateTime<Utc>,
    pub data: T,
}

impl<T: EventData> Envelope<T> {
    /// Wraps `data` with its deterministic id, produced now by `source`.
    pub fn new(source: impl Into<String>, data: T) -> Self {
        Self {
            id: data.event_id(),
            source: source.into(),
            time: Utc::now(),
            data,
        }
    }

    pub fn subject(&self) -> String {
        self.data.subject()
    }

    /// The structured-mode CloudEvents JSON document.
    pub fn to_json(&self) -> Vec<u8> {
        let data = serde_json::to_value(&self.data).expect("event data always serialises");
        let mut builder = EventBuilderV10::new()
            .id(self.id.clone())
            .source(self.source.clone())
            .ty(T::TYPE)
            .time(self.time)
            .data("application/json", data);
        if let Some(about) = self.data.about() {
            builder = builder.subject(about);
        }
        let event = builder.build().expect("id, source and type are always set");
        serde_json::to_vec(&event).expect("a CloudEvent always serialises")
    }

    /// Decodes a structured-mode CloudEvent of exactly this type and version.
    pub fn from_json(body: &[u8]) -> Result<Self, DecodeError> {
        RawEvent::from_json(body)?.into_typed()
    }
}

/// A CloudEvent whose type has not been checked yet: what a consumer of several types reads first.
#[derive(Debug, Clone)]
pub struct RawEvent {
    pub id: String,
    pub source: String,
    pub ty: String,
    pub time: Option<DateTime<Utc>>,
    pub data: serde_json::Value,
}

impl RawEvent {
    pub fn from_json(body: &[u8]) -> Result<Self, DecodeError> {
        let mut event: cloudevents::Event =
            serde_json::from_slice(body).map_err(DecodeError::NotCloudEvent)?;
        let ty = event.ty().to_owned();
        // Taken, not cloned: the data is most of the message.
        let data = match event.take_data().2 {
            Some(Data::Json(value)) => value,
            // A producer may send JSON as a string when it omits datacontenttype.
            Some(Data::String(text)) => {
                serde_json::from_str(&text).map_err(|source| DecodeError::BadData {
                    ty: ty.clone(),
                    source,
                })?
            }
            Some(Data::Binary(_)) => return Err(DecodeError::BinaryData { ty }),
            None => return Err(DecodeError::MissingData { ty }),
        };
        Ok(Self {
            id: event.id().to_owned(),
            source: event.source().to_string(),
            ty,
            time: event.time().copied(),
            data,
        })
    }

    /// Checks the type and version, then decodes the data.
    pub fn into_typed<T: EventData>(self) -> Result<Envelope<T>, DecodeError> {
        if self.ty != T::TYPE {
            return Err(if version_less(&self.ty) == version_less(T::TYPE) {
                DecodeError::UnknownVersion {
                    found: self.ty,
                    expected: T::TYPE,
                }
            } else {
                DecodeError::UnexpectedType {
                    found: self.ty,
                    expected: T::TYPE,
                }
            });
        }
        let data = serde_json::from_value(self.data).map_err(|source| DecodeError::BadData {
            ty: self.ty.clone(),
            source,
        })?;
        Ok(Envelope {
            id: self.id,
            source: self.source,
            time: self.time.unwrap_or_default(),
            data,
        })
    }
}

fn version_less(ty: &str) -> &str {
    ty.rsplit_once('.').map_or(ty, |(base, _version)| base)
}

/// Why a message body is not the event a consumer expected. Never worth retrying.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("body is not a CloudEvents 1.0 JSON document")]
    NotCloudEvent(#[source] serde_json::Error),
    #[error("event type {found} is not the expected {expected}")]
    UnexpectedType {
        found: String,
        expected: &'static str,
    },
    #[error("event type {found} has a version this service does not read (it reads {expected})")]
    UnknownVersion {
        found: String,
        expected: &'static str,
    },
    #[error("event of type {ty} has no data")]
    MissingData { ty: String },
    #[error("event of type {ty} carries binary data, not JSON")]
    BinaryData { ty: String },
    #[error("data of event type {ty} does not match its schema")]
    BadData {
        ty: String,
        #[source]
        source: serde_json::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Alert, JobDead, Severity};

    fn alert() -> Alert {
        Alert {
            severity: Severity::Critical,
            kind: "job-dead".into(),
            service: "processor-launcher".into(),
            message: "Job used its 3 attempts.".into(),
            about: "abc".into(),
            raised_at: Utc::now(),
        }
    }

    #[test]
    fn round_trips_as_a_structured_cloudevent() {
        let event = Envelope::new("/nrt-mesh/test", alert());
        let json: serde_json::Value = serde_json::from_slice(&event.to_json()).unwrap();
        assert_eq!(json["specversion"], "1.0");
        assert_eq!(json["type"], "eu.nrtmesh.alert.raised.v1");
        assert_eq!(json["id"], "alert:processor-launcher:job-dead:abc");
        assert_eq!(json["subject"], "abc");
        assert_eq!(json["datacontenttype"], "application/json");
        let back = Envelope::<Alert>::from_json(&event.to_json()).unwrap();
        assert_eq!(back.data, event.data);
        assert_eq!(back.id, event.id);
    }

    #[test]
    fn another_version_of_the_type_is_named_as_such() {
        let body = String::from_utf8(Envelope::new("/t", alert()).to_json())
            .unwrap()
            .replace("alert.raised.v1", "alert.raised.v2");
        let error = Envelope::<Alert>::from_json(body.as_bytes()).unwrap_err();
        assert!(
            matches!(error, DecodeError::UnknownVersion { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("eu.nrtmesh.alert.raised.v2"));
    }

    #[test]
    fn another_type_is_rejected() {
        let error =
            Envelope::<JobDead>::from_json(&Envelope::new("/t", alert()).to_json()).unwrap_err();
        assert!(
            matches!(error, DecodeError::UnexpectedType { .. }),
            "{error}"
        );
    }

    #[test]
    fn garbage_and_missing_attributes_are_not_cloudevents() {
        for body in [
            &b"not json"[..],
            br#"{"id":"x","type":"t"}"#,
            br#"{"specversion":"0.1"}"#,
        ] {
            let error = RawEvent::from_json(body).unwrap_err();
            assert!(matches!(error, DecodeError::NotCloudEvent(_)), "{error}");
        }
    }

    #[test]
    fn data_not_matching_the_schema_names_the_type() {
        let body =
            br#"{"specversion":"1.0","id":"1","source":"/t","type":"eu.nrtmesh.alert.raised.v1",
            "datacontenttype":"application/json","data":{"severity":"loud"}}"#;
        let error = Envelope::<Alert>::from_json(body).unwrap_err();
        assert!(matches!(error, DecodeError::BadData { .. }));
        assert!(error.to_string().contains("eu.nrtmesh.alert.raised.v1"));
    }

    #[test]
    fn an_event_without_data_is_an_error() {
        let body =
            br#"{"specversion":"1.0","id":"1","source":"/t","type":"eu.nrtmesh.alert.raised.v1"}"#;
        assert!(matches!(
            RawEvent::from_json(body).unwrap_err(),
            DecodeError::MissingData { .. }
        ));
    }
}
