//! One page of a feed, decided without I/O: which entries are new facts to publish, which cannot
//! be read (to the dead-letter queue), and where the cursor stands once they are all handled.

use nrt_events::stable_hash;
use serde_json::value::RawValue;

use crate::{
    cursor::Cursor,
    feed::{Discovery, EntryError, PolledFeed},
};

/// What a page means for the mesh.
#[derive(Debug)]
pub struct PageOutcome {
    pub discovered: Vec<Discovery>,
    pub rejected: Vec<Rejected>,
    /// Entries the cursor had already passed: ties at its time seen by an earlier poll.
    pub already_seen: usize,
    /// The cursor after every entry of the page, rejected ones included: the dead-letter queue
    /// holds those, so nothing is lost by moving past them.
    pub cursor: Cursor,
}

/// An entry that cannot become an event, kept byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub entity: String,
    pub error: EntryError,
}

/// Splits `entries` (in publication order) into new facts and rejects, from `cursor` on.
pub fn handle_page(
    feed: &impl PolledFeed,
    cursor: &Cursor,
    entries: &[Box<RawValue>],
) -> PageOutcome {
    let mut outcome = PageOutcome {
        discovered: Vec::new(),
        rejected: Vec::new(),
        already_seen: 0,
        cursor: cursor.clone(),
    };
    for (position, raw) in entries.iter().enumerate() {
        let entry = feed.read_entry(raw, position);
        // An entry without an id still needs an identity to be recognised at the cursor.
        let identity = entry
            .identity
            .unwrap_or_else(|| format!("sha256:{}", stable_hash([raw.get()])));
        if entry
            .published_at
            .is_some_and(|time| cursor.has_seen(time, &identity))
        {
            outcome.already_seen += 1;
            continue;
        }
        match entry.outcome {
            Ok(discovery) => outcome.discovered.push(discovery),
            Err(error) => outcome.rejected.push(Rejected {
                entity: raw.get().to_owned(),
                error,
            }),
        }
        if let Some(time) = entry.published_at {
            outcome.cursor.advance(time, &identity);
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use serde_json::{Value, json};
    use url::Url;

    use super::*;
    use crate::{config::FeedConfig, odata::OdataFeed};

    fn feed() -> OdataFeed {
        let feed = FeedConfig::cdse("test", Url::parse("http://replay/odata/v1").unwrap());
        let source = feed.odata().unwrap();
        OdataFeed::new(&feed, source).unwrap()
    }

    fn entity(id: &str, published: &str) -> Value {
        json!({
            "Id": id,
            "Name": format!("{id}.SAFE"),
            "PublicationDate": published,
            "ContentDate": {"Start": "2026-01-01T00:00:00Z", "End": "2026-01-01T00:00:10Z"},
            "Attributes": [
                {"Name": "platformShortName", "Value": "SENTINEL-2"},
                {"Name": "productType", "Value": "S2MSI1C"},
            ],
        })
    }

    fn raw(entities: &[Value]) -> Vec<Box<RawValue>> {
        entities
            .iter()
            .map(|entity| serde_json::value::to_raw_value(entity).unwrap())
            .collect()
    }

    fn origin() -> Cursor {
        Cursor::starting_at("2000-01-01T00:00:00Z".parse().unwrap())
    }

    fn keys(outcome: &PageOutcome) -> Vec<&str> {
        outcome.discovered.iter().map(Discovery::key).collect()
    }

    #[test]
    fn products_tied_at_the_cursor_time_and_already_seen_are_skipped() {
        let cursor = Cursor {
            published_at: "2026-01-01T00:00:05Z".parse().unwrap(),
            ids_at_cursor: ["a".to_owned()].into(),
        };
        let outcome = handle_page(
            &feed(),
            &cursor,
            &raw(&[
                entity("a", "2026-01-01T00:00:05Z"),
                entity("b", "2026-01-01T00:00:05Z"),
                entity("c", "2026-01-01T00:00:09Z"),
            ]),
        );
        assert_eq!(keys(&outcome), ["b", "c"]);
        assert_eq!(outcome.already_seen, 1);
        assert_eq!(
            outcome.cursor,
            Cursor {
                published_at: "2026-01-01T00:00:09Z".parse().unwrap(),
                ids_at_cursor: ["c".to_owned()].into(),
            }
        );
    }

    #[test]
    fn a_page_ending_in_a_tie_keeps_every_tied_id() {
        let outcome = handle_page(
            &feed(),
            &Cursor::starting_at("2026-01-01T00:00:00Z".parse().unwrap()),
            &raw(&[
                entity("a", "2026-01-01T00:00:01Z"),
                entity("b", "2026-01-01T00:00:02Z"),
                entity("c", "2026-01-01T00:00:02Z"),
            ]),
        );
        assert_eq!(
            outcome.cursor.ids_at_cursor,
            ["b".to_owned(), "c".to_owned()].into()
        );
    }

    #[test]
    fn an_entry_missing_a_field_is_rejected_whole_and_the_cursor_moves_past_it() {
        let mut broken = entity("b", "2026-01-01T00:00:02Z");
        broken.as_object_mut().unwrap().remove("ContentDate");
        let entries = raw(&[entity("a", "2026-01-01T00:00:01Z"), broken.clone()]);
        let outcome = handle_page(&feed(), &origin(), &entries);
        assert_eq!(keys(&outcome), ["a"]);
        assert_eq!(outcome.rejected.len(), 1);
        assert_eq!(outcome.rejected[0].entity, entries[1].get());
        assert_eq!(
            outcome.rejected[0].error.to_string(),
            "product b.SAFE: ContentDate is missing or not an object"
        );
        assert_eq!(
            outcome.cursor.published_at,
            "2026-01-01T00:00:02Z".parse::<DateTime<Utc>>().unwrap()
        );
    }

    #[test]
    fn an_entry_without_id_is_recognised_at_the_cursor_by_its_content() {
        let mut anonymous = entity("x", "2026-01-01T00:00:02Z");
        anonymous.as_object_mut().unwrap().remove("Id");
        let entries = raw(&[anonymous]);
        let first = handle_page(&feed(), &origin(), &entries);
        assert_eq!(first.rejected.len(), 1);
        let again = handle_page(&feed(), &first.cursor, &entries);
        assert_eq!((again.rejected.len(), again.already_seen), (0, 1));
    }
}
