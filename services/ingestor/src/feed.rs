//! What the poller needs from a feed it polls, whatever protocol the feed speaks: the request
//! that asks for everything published since the cursor, the pages that come back, and what each
//! entry of a page means.

use std::{fmt::Display, future::Future};

use chrono::{DateTime, Utc};
use nrt_events::{ProductDiscovered, ProductRetracted};
use serde_json::value::RawValue;

use crate::Error;

/// A feed read in pages, oldest publication first, from a cursor on.
pub trait PolledFeed: Send + Sync {
    /// How a page is asked for (a URL, a search body, a listing token). Its `Display` names the
    /// page in logs and dead letters.
    type Request: Clone + Display + Send + Sync;

    /// The first page of everything published at or after `since`, oldest first.
    fn first_request(&self, since: DateTime<Utc>) -> Self::Request;

    /// One page, after the retries the feed's policy allows.
    fn fetch(
        &self,
        request: &Self::Request,
    ) -> impl Future<Output = Result<FeedPage<Self::Request>, Error>> + Send;

    /// What the entry at `position` of a page is. Never fails: an entry that cannot be read is
    /// an [`EntryError`] in the outcome, to be dead-lettered.
    fn read_entry(&self, entry: &RawValue, position: usize) -> FeedEntry;

    /// Whether a poll should start over from the cursor instead of following `next`: CDSE's
    /// `$skip` cap makes deep pages unreachable by paging alone.
    fn restarts_from_cursor(&self, next: &Self::Request) -> bool {
        let _ = next;
        false
    }
}

/// One answer of a feed: its entries untouched, and how to ask for the next page.
#[derive(Debug)]
pub struct FeedPage<R> {
    pub entries: Vec<Box<RawValue>>,
    pub next: Option<R>,
}

/// What one entry of a page is.
#[derive(Debug)]
pub struct FeedEntry {
    /// The feed's id for the entry, to recognise it at the cursor; `None` when it has none.
    pub identity: Option<String>,
    /// Where the entry stands in the feed's order; `None` when unreadable.
    pub published_at: Option<DateTime<Utc>>,
    pub outcome: Result<Discovery, EntryError>,
}

/// A fact a feed told us about a product.
#[derive(Debug, Clone, PartialEq)]
pub enum Discovery {
    Discovered(Box<ProductDiscovered>),
    Retracted(Box<ProductRetracted>),
}

impl Discovery {
    /// The product's identity across feeds.
    pub fn key(&self) -> &str {
        match self {
            Self::Discovered(product) => &product.key,
            Self::Retracted(product) => &product.key,
        }
    }
}

/// Why one entry of a page cannot become an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{product}: {field} {problem}")]
pub struct EntryError {
    /// `product <Name>`, or `entry value[<i>]` when the entry has no usable name.
    pub product: String,
    /// The entry's field, e.g. `ContentDate.Start` or `Attributes.productType`.
    pub field: String,
    pub problem: &'static str,
}
