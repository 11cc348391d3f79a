//! A local CDSE OData catalogue serving recorded products: what `nrtmesh dev` replays as its
//! feed, and what the ingestor's and end-to-end tests poll.
//!
//! It answers `GET /odata/v1/Products` (and `/DeletedProducts`, for products a test withdrew)
//! with the subset of CDSE's OData the ingestor uses
//! (`$filter` on `PublicationDate`, `Collection/Name` and `productType`, `$orderby=PublicationDate
//! asc`, `$top`, `$skip`, `$expand`, `$count`, `@odata.nextLink`), refuses anything else with a
//! 400 naming it, releases products all at once or one at a time, and lets tests inject faults
//! and read the requests it received. With an [`Account`] it also plays CDSE's identity server:
//! tokens from `/auth/token` that expire, and 401 without one. It also serves a product by id
//! (`/Products(<id>)`) and a pull subscription (`/Subscriptions(<id>)/Read` and `/Ack`) whose
//! queue tests fill with notifications of the recorded products.
//!
//! ```no_run
//! # async fn example() -> Result<(), nrt_cdse_replay::ReplayError> {
//! use nrt_cdse_replay::{Fault, ReplayFeed, ReplayOptions};
//! let replay = ReplayFeed::recorded().start(ReplayOptions::default()).await?;
//! replay.inject(Fault::Status(503), 2);
//! println!("poll {}/Products", replay.url());
//! # Ok(()) }
//! ```

mod account;
mod deletions;
mod fault;
mod feed;
pub mod query;
mod release;
mod server;
mod subscription;
mod synthetic;

use std::path::PathBuf;

pub use account::Account;
pub use fault::Fault;
pub use feed::ReplayFeed;
pub use release::ReleaseSchedule;
pub use server::{RecordedRequest, ReplayOptions, RunningReplay};
pub use subscription::{Acknowledgement, MAX_READ_TOP};

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("could not read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no recorded product pages (*_products_*.json) in {0}")]
    NoPages(PathBuf),
    #[error("{path} is not an OData page with a `value` array")]
    Page {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("product #{position} of {origin} cannot be served (it needs Id and PublicationDate)")]
    Product {
        origin: String,
        position: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("could not listen on 127.0.0.1:{port}")]
    Bind {
        port: u16,
        #[source]
        source: std::io::Error,
    },
}
