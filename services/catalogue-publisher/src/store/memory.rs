//! An in-memory bucket with S3's conditional-write semantics, for unit tests.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use bytes::Bytes;
use nrt_s3::S3Error;

use super::{ObjectStore, Precondition, Versioned, Written, verify_conditional_writes};
use crate::{Error, layout::Layout};

type BeforeWrite = Box<dyn Fn(&str, &mut BTreeMap<String, Versioned>) + Send + Sync>;

#[derive(Clone, Default)]
pub struct MemoryStore {
    objects: Arc<Mutex<BTreeMap<String, Versioned>>>,
    versions: Arc<Mutex<u64>>,
    /// Runs just before each conditional write: a concurrent writer or a broken server.
    before_conditional_write: Arc<Mutex<Option<BeforeWrite>>>,
    pub ignores_conditions: bool,
}

impl MemoryStore {
    pub fn object(&self, key: &str) -> Option<Bytes> {
        let objects = self.objects.lock().unwrap();
        objects.get(key).map(|object| object.body.clone())
    }

    pub fn keys(&self) -> Vec<String> {
        self.objects.lock().unwrap().keys().cloned().collect()
    }

    pub fn insert(&self, key: &str, body: impl Into<Bytes>) {
        let etag = self.next_etag();
        let object = Versioned {
            body: body.into(),
            etag,
        };
        self.objects.lock().unwrap().insert(key.to_owned(), object);
    }

    pub fn before_conditional_write(
        &self,
        hook: impl Fn(&str, &mut BTreeMap<String, Versioned>) + Send + Sync + 'static,
    ) {
        *self.before_conditional_write.lock().unwrap() = Some(Box::new(hook));
    }

    pub fn next_etag(&self) -> String {
        let mut version = self.versions.lock().unwrap();
        *version += 1;
        format!("\"v{version}\"")
    }
}

impl ObjectStore for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<Bytes>, S3Error> {
        Ok(self.object(key))
    }

    async fn get_versioned(&self, key: &str) -> Result<Option<Versioned>, S3Error> {
        Ok(self.objects.lock().unwrap().get(key).cloned())
    }

    async fn put(&self, key: &str, body: Bytes, _content_type: &str) -> Result<(), S3Error> {
        self.insert(key, body);
        Ok(())
    }

    async fn put_if(
        &self,
        key: &str,
        body: Bytes,
        _content_type: &str,
        precondition: Precondition,
    ) -> Result<Written, S3Error> {
        let etag = self.next_etag();
        let mut objects = self.objects.lock().unwrap();
        if let Some(hook) = self.before_conditional_write.lock().unwrap().as_ref() {
            hook(key, &mut objects);
        }
        let holds = match (&precondition, objects.get(key)) {
            (Precondition::Absent, existing) => existing.is_none(),
            (Precondition::Unchanged(etag), Some(existing)) => existing.etag == *etag,
            (Precondition::Unchanged(_), None) => false,
        };
        if !holds && !self.ignores_conditions {
            return Ok(Written::PreconditionFailed);
        }
        objects.insert(key.to_owned(), Versioned { body, etag });
        Ok(Written::Yes)
    }
}

#[tokio::test]
async fn a_server_honouring_conditions_passes_the_probe() {
    let layout = Layout::new("catalogue", "stac", None);
    let store = MemoryStore::default();
    verify_conditional_writes(&store, &layout, "memory")
        .await
        .unwrap();
    assert_eq!(store.keys(), ["stac/.conditional-write-probe"]);
}

#[tokio::test]
async fn a_server_ignoring_conditions_is_refused() {
    let layout = Layout::new("catalogue", "", None);
    let store = MemoryStore {
        ignores_conditions: true,
        ..MemoryStore::default()
    };
    let error = verify_conditional_writes(&store, &layout, "http://old-s3:9000")
        .await
        .unwrap_err();
    assert!(matches!(error, Error::ConditionalWritesUnsupported { .. }));
    assert!(error.to_string().contains("http://old-s3:9000"), "{error}");
}
