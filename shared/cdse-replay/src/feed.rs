//! The products a replay serves: loaded from recorded pages or given whole, kept byte for byte
//! as recorded, deduplicated by `Id` and ordered by publication time.

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::{
    ReplayError,
    query::{Clause, Comparison, ProductQuery},
};

/// The recorded CDSE pages of `testdata/fixtures/cdse-odata`, compiled in so that `nrtmesh dev`
/// replays them from any working directory.
pub(crate) const RECORDED_PAGES: [(&str, &str); 4] = [
    (
        "s1_aux_products_expand-attributes_count_page1.json",
        include_str!(
            "../../../testdata/fixtures/cdse-odata/s1_aux_products_expand-attributes_count_page1.json"
        ),
    ),
    (
        "s1_aux_products_expand-attributes_lastpage.json",
        include_str!(
            "../../../testdata/fixtures/cdse-odata/s1_aux_products_expand-attributes_lastpage.json"
        ),
    ),
    (
        "s1_grd_products_expand-assets-attributes-locations_nextlink.json",
        include_str!(
            "../../../testdata/fixtures/cdse-odata/s1_grd_products_expand-assets-attributes-locations_nextlink.json"
        ),
    ),
    (
        "s2_l1c_products_expand-attributes-assets_nextlink.json",
        include_str!(
            "../../../testdata/fixtures/cdse-odata/s2_l1c_products_expand-attributes-assets_nextlink.json"
        ),
    ),
];

/// A catalogue of products to serve, in publication order.
#[derive(Debug, Clone)]
pub struct ReplayFeed {
    products: Vec<Product>,
}

/// One product: its entity exactly as recorded, and the fields queries look at.
#[derive(Debug, Clone)]
pub(crate) struct Product {
    pub id: String,
    pub published_at: DateTime<Utc>,
    /// The `platformShortName` attribute, which CDSE's `Collection/Name` matches.
    pub collection: Option<String>,
    pub product_type: Option<String>,
    pub entity: Box<RawValue>,
}

/// The fields of an entity the replay needs; everything else is served untouched.
#[derive(Deserialize)]
struct Indexed {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "PublicationDate")]
    published_at: DateTime<Utc>,
    #[serde(rename = "Attributes")]
    attributes: Option<Vec<IndexedAttribute>>,
}

#[derive(Deserialize)]
struct IndexedAttribute {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Value", default)]
    value: serde_json::Value,
}

#[derive(Deserialize)]
struct Page<'a> {
    #[serde(borrow)]
    value: Vec<&'a RawValue>,
}

impl ReplayFeed {
    /// The 39 products of the recorded CDSE pages in `testdata/fixtures/cdse-odata`.
    pub fn recorded() -> Self {
        let mut entities = Vec::new();
        for (name, text) in RECORDED_PAGES {
            entities.extend(page_entities(text, Path::new(name)).expect("recorded pages parse"));
        }
        Self::from_entities(entities, "the recorded pages").expect("recorded products index")
    }

    /// The products of every `*_products_*.json` page (an OData answer with `value`) in `dir`.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self, ReplayError> {
        let dir = dir.as_ref();
        let read = |path: &Path, source| ReplayError::Read {
            path: path.to_owned(),
            source,
        };
        let mut pages: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|source| read(dir, source))?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| {
                path.file_name()
                    .and_then(|name| name.to_str())
                    .is_some_and(|name| name.contains("_products_") && name.ends_with(".json"))
            })
            .collect();
        if pages.is_empty() {
            return Err(ReplayError::NoPages(dir.to_owned()));
        }
        pages.sort();
        let mut entities = Vec::new();
        for path in &pages {
            let text = std::fs::read_to_string(path).map_err(|source| read(path, source))?;
            entities.extend(page_entities(&text, path)?);
        }
        Self::from_entities(entities, &dir.display().to_string())
    }

    /// Serves these entities (each needs at least `Id` and `PublicationDate`).
    pub fn from_products(entities: Vec<serde_json::Value>) -> Result<Self, ReplayError> {
        let raw = entities
            .iter()
            .map(|entity| serde_json::value::to_raw_value(entity).expect("a JSON value serialises"))
            .collect();
        Self::from_entities(raw, "the given products")
    }

    fn from_entities(entities: Vec<Box<RawValue>>, origin: &str) -> Result<Self, ReplayError> {
        let mut seen = HashSet::new();
        let mut products = Vec::with_capacity(entities.len());
        for (position, entity) in entities.into_iter().enumerate() {
            let product = Product::index(entity).map_err(|source| ReplayError::Product {
                origin: origin.to_owned(),
                position,
                source,
            })?;
            // Recorded pages overlap; the first recording of a product wins.
            if seen.insert(product.id.clone()) {
                products.push(product);
            }
        }
        products.sort_by(|a, b| (a.published_at, &a.id).cmp(&(b.published_at, &b.id)));
        Ok(Self { products })
    }

    /// How many distinct products the feed holds.
    pub fn product_count(&self) -> usize {
        self.products.len()
    }

    /// The product with feed id `id`.
    pub(crate) fn product(&self, id: &str) -> Option<&Product> {
        self.products.iter().find(|product| product.id == id)
    }

    /// The entities in publication order, as they are served.
    pub fn entities(&self) -> impl Iterator<Item = &RawValue> {
        self.products.iter().map(|product| product.entity.as_ref())
    }

    /// The first `visible` products (in publication order) that satisfy `query`: how many match,
    /// and the page `$skip`/`$top` select.
    pub(crate) fn select(
        &self,
        visible: usize,
        query: &ProductQuery,
        deleted: &HashSet<String>,
    ) -> (usize, Vec<&Product>) {
        let visible = &self.products[..visible.min(self.products.len())];
        // Products are in publication order: a lower bound on it skips the older ones at once,
        // which keeps polls of a large synthetic feed cheap.
        let first = query
            .clauses
            .iter()
            .filter_map(|clause| match clause {
                Clause::Published(Comparison::Gt | Comparison::Ge, bound) => Some(*bound),
                _ => None,
            })
            .max()
            .map_or(0, |bound| {
                visible.partition_point(|product| product.published_at < bound)
            });
        let matching: Vec<&Product> = visible[first..]
            .iter()
            .filter(|product| !deleted.contains(&product.id))
            .filter(|product| query.clauses.iter().all(|clause| product.matches(clause)))
            .collect();
        let page = matching
            .iter()
            .skip(query.skip)
            .take(query.top)
            .copied()
            .collect();
        (matching.len(), page)
    }
}

impl Product {
    fn index(entity: Box<RawValue>) -> Result<Self, serde_json::Error> {
        let indexed: Indexed = serde_json::from_str(entity.get())?;
        let attribute = |name: &str| {
            indexed
                .attributes
                .iter()
                .flatten()
                .find(|attribute| attribute.name == name)
                .and_then(|attribute| attribute.value.as_str())
                .map(str::to_owned)
        };
        Ok(Self {
            collection: attribute("platformShortName"),
            product_type: attribute("productType"),
            id: indexed.id,
            published_at: indexed.published_at,
            entity,
        })
    }

    fn matches(&self, clause: &Clause) -> bool {
        match clause {
            Clause::Published(comparison, bound) => comparison.holds(self.published_at, *bound),
            Clause::Collection(name) => self.collection.as_deref() == Some(name),
            Clause::ProductType(name) => self.product_type.as_deref() == Some(name),
        }
    }
}

fn page_entities(text: &str, path: &Path) -> Result<Vec<Box<RawValue>>, ReplayError> {
    let page: Page = serde_json::from_str(text).map_err(|source| ReplayError::Page {
        path: path.to_owned(),
        source,
    })?;
    Ok(page.value.into_iter().map(RawValue::to_owned).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query;

    const FIXTURES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/fixtures/cdse-odata"
    );

    fn names(products: &[&Product]) -> Vec<String> {
        products
            .iter()
            .map(|product| {
                let entity: serde_json::Value = serde_json::from_str(product.entity.get()).unwrap();
                entity["Name"].as_str().unwrap().to_owned()
            })
            .collect()
    }

    #[test]
    fn recorded_pages_hold_39_distinct_products_in_publication_order() {
        let feed = ReplayFeed::from_dir(FIXTURES).unwrap();
        assert_eq!(feed.product_count(), 39);
        assert!(
            feed.products
                .windows(2)
                .all(|pair| pair[0].published_at <= pair[1].published_at)
        );
        assert_eq!(ReplayFeed::recorded().product_count(), 39);
    }

    #[test]
    fn entities_are_kept_byte_for_byte() {
        let feed = ReplayFeed::recorded();
        let page = std::fs::read_to_string(format!(
            "{FIXTURES}/s2_l1c_products_expand-attributes-assets_nextlink.json"
        ))
        .unwrap();
        for entity in feed.entities() {
            if entity.get().contains("S2A_MSIL1C") {
                assert!(page.contains(entity.get()));
            }
        }
    }

    #[test]
    fn filters_select_by_collection_product_type_and_publication_time() {
        let feed = ReplayFeed::recorded();
        let select = |filter: &str| {
            let raw = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("$filter", filter)
                .append_pair("$top", "100")
                .finish();
            let (total, page) =
                feed.select(usize::MAX, &query::parse(&raw).unwrap(), &HashSet::new());
            assert_eq!(total, page.len());
            names(&page)
        };
        assert_eq!(
            select("Collection/Name eq 'SENTINEL-2'"),
            [
                "S2A_MSIL1C_20200808T010311_N0500_R045_T55PBR_20230413T212505.SAFE",
                "S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505.SAFE",
            ]
        );
        assert_eq!(select("Collection/Name eq 'SENTINEL-1'").len(), 37);
        assert_eq!(
            select(
                "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and att/OData.CSC.StringAttribute/Value eq 'IW_GRDH_1S')"
            )
            .len(),
            20
        );
        // Exactly at the newer S2 product's publication time: ge includes it, gt does not.
        assert_eq!(
            select(
                "Collection/Name eq 'SENTINEL-2' and PublicationDate ge 2023-08-23T09:26:23.105134Z"
            )
            .len(),
            1
        );
        assert!(
            select(
                "Collection/Name eq 'SENTINEL-2' and PublicationDate gt 2023-08-23T09:26:23.105134Z"
            )
            .is_empty()
        );
    }

    #[test]
    fn pages_walk_the_matches_without_gaps_or_repeats() {
        let feed = ReplayFeed::recorded();
        let mut seen = Vec::new();
        for skip in (0..40).step_by(7) {
            let (total, page) = feed.select(
                usize::MAX,
                &query::parse(&format!("$top=7&$skip={skip}")).unwrap(),
                &HashSet::new(),
            );
            assert_eq!(total, 39);
            seen.extend(page.iter().map(|product| product.id.clone()));
        }
        let distinct: HashSet<_> = seen.iter().collect();
        assert_eq!((seen.len(), distinct.len()), (39, 39));
    }

    #[test]
    fn only_visible_products_are_selected() {
        let feed = ReplayFeed::recorded();
        let (total, page) = feed.select(3, &query::parse("").unwrap(), &HashSet::new());
        assert_eq!((total, page.len()), (3, 3));
        assert_eq!(page[2].id, feed.products[2].id);
    }

    #[test]
    fn a_product_without_publication_date_is_refused_with_its_position() {
        let error = ReplayFeed::from_products(vec![
            serde_json::json!({"Id": "a", "PublicationDate": "2024-01-01T00:00:00Z"}),
            serde_json::json!({"Id": "b"}),
        ])
        .unwrap_err();
        let message = error.to_string();
        assert!(message.contains("#1"), "{message}");
        assert!(
            std::error::Error::source(&error)
                .unwrap()
                .to_string()
                .contains("PublicationDate")
        );
    }

    #[test]
    fn a_directory_without_pages_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let error = ReplayFeed::from_dir(dir.path()).unwrap_err();
        assert!(matches!(error, ReplayError::NoPages(_)));
        assert!(
            error
                .to_string()
                .contains(&dir.path().display().to_string())
        );
    }
}
