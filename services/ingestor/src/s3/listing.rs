//! The reconciler: lists the bucket and finds marker objects written since its cursor, so that a
//! product whose object event was lost (a notification target down, a queue purged) is still
//! discovered. Products whose events did arrive come out again under the same id, and JetStream
//! drops them. Objects are listed only once they have settled (an hour by default), so an upload
//! still in flight when a listing runs is not passed by the cursor.

use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;

use super::{
    config::BucketSource,
    objects::{BucketObject, product_of},
};
use crate::{
    Error,
    feed::{Discovery, EntryError, FeedEntry, FeedPage, PolledFeed},
};

/// The cursor key of a bucket's reconciler beside its events (`<feed>.listing`).
pub fn listing_cursor(feed: &str) -> String {
    format!("{feed}.listing")
}

/// One listing: every marker written at or after `since`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingRequest {
    pub bucket: String,
    pub prefix: String,
    pub since: DateTime<Utc>,
}

impl fmt::Display for ListingRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ListObjectsV2 s3://{}/{} (written since {})",
            self.bucket, self.prefix, self.since
        )
    }
}

pub struct BucketListing {
    feed: String,
    source: BucketSource,
    client: nrt_s3::aws_sdk_s3::Client,
}

impl BucketListing {
    pub async fn new(feed: &str, source: &BucketSource) -> Self {
        Self {
            feed: feed.to_owned(),
            source: source.clone(),
            client: nrt_s3::client(&source.s3).await,
        }
    }
}

/// The markers of a listing written since the request's cursor and before `settled_before`,
/// sorted by write time: S3 lists in key order, and the cursor must see entries oldest first.
/// Younger objects wait for a later listing, so the cursor never passes an upload still in flight.
pub fn settled_markers(
    listed: Vec<nrt_s3::ListedObject>,
    request: &ListingRequest,
    settled_before: DateTime<Utc>,
    source: &BucketSource,
) -> Vec<BucketObject> {
    let mut markers: Vec<BucketObject> = listed
        .into_iter()
        .filter_map(|object| {
            Some(BucketObject {
                bucket: request.bucket.clone(),
                key: object.key,
                size: object.size,
                etag: object.etag,
                modified: object.last_modified?,
            })
        })
        .filter(|object| {
            (request.since..settled_before).contains(&object.modified) && object.is_marker(source)
        })
        .collect();
    markers.sort_by(|a, b| (a.modified, &a.key).cmp(&(b.modified, &b.key)));
    markers
}

impl PolledFeed for BucketListing {
    type Request = ListingRequest;

    fn first_request(&self, since: DateTime<Utc>) -> ListingRequest {
        ListingRequest {
            bucket: self.source.bucket.clone(),
            prefix: self.source.prefix.clone(),
            since,
        }
    }

    /// The whole listing as one page of settled markers (see [`settled_markers`]).
    async fn fetch(&self, request: &ListingRequest) -> Result<FeedPage<ListingRequest>, Error> {
        let listed = nrt_s3::list_objects(&self.client, &request.bucket, &request.prefix)
            .await
            .map_err(|source| Error::Listing {
                bucket: request.bucket.clone(),
                prefix: request.prefix.clone(),
                source: Box::new(source),
            })?;
        let settled_before = Utc::now() - self.source.settle;
        let markers = settled_markers(listed, request, settled_before, &self.source);
        let entries = markers
            .iter()
            .map(|object| serde_json::value::to_raw_value(object).expect("an object serialises"))
            .collect();
        Ok(FeedPage {
            entries,
            next: None,
        })
    }

    fn read_entry(&self, entry: &RawValue, position: usize) -> FeedEntry {
        match serde_json::from_str::<BucketObject>(entry.get()) {
            Ok(object) => FeedEntry {
                identity: Some(object.key.clone()),
                published_at: Some(object.modified),
                outcome: product_of(&object, &self.feed, &self.source)
                    .map(|product| Discovery::Discovered(Box::new(product))),
            },
            // Entries are ours, serialised just above; this only guards the type.
            Err(_) => FeedEntry {
                identity: None,
                published_at: None,
                outcome: Err(EntryError {
                    product: format!("listed object #{position}"),
                    field: "entry".into(),
                    problem: "is not a listed object",
                }),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use nrt_s3::{ListedObject, S3Config};

    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn listed(key: &str, modified: &str) -> ListedObject {
        ListedObject {
            key: key.into(),
            size: Some(1),
            etag: None,
            last_modified: Some(at(modified)),
        }
    }

    #[test]
    fn only_settled_markers_since_the_cursor_are_listed_oldest_first() {
        let source = BucketSource::new("eodata", S3Config::local("http://127.0.0.1:1", "k", "s"));
        let request = ListingRequest {
            bucket: "eodata".into(),
            prefix: String::new(),
            since: at("2026-01-01T10:00:00Z"),
        };
        let objects = vec![
            listed("b/late.zip", "2026-01-01T10:30:00Z"),
            listed("a/early.zip", "2026-01-01T10:10:00Z"),
            listed("before-the-cursor.zip", "2026-01-01T09:59:59Z"),
            // A multipart upload begun at 10:55 and still in flight must not be passed.
            listed("in-flight.zip", "2026-01-01T10:55:00Z"),
            listed("a/early.SAFE/measurement/vv.tiff", "2026-01-01T10:10:00Z"),
        ];
        let markers = settled_markers(objects, &request, at("2026-01-01T10:45:00Z"), &source);
        let keys: Vec<&str> = markers.iter().map(|object| object.key.as_str()).collect();
        assert_eq!(keys, ["a/early.zip", "b/late.zip"]);
    }
}
