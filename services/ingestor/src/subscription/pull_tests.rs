use std::{
    collections::VecDeque,
    sync::{Mutex, atomic::Ordering},
};

use nrt_events::Alert;
use serde_json::Value;

use super::*;
use crate::{odata::OdataSource, subscription::fixture, testing::MemorySink};

const SUBSCRIPTION: &str = "991c4730-cf6f-432a-9f6c-47be0230ff45";

/// A subscription queue in memory, with CDSE's semantics: reads leave notifications queued, an
/// acknowledgement removes its notification and all before it. It notes how many products the
/// sink held when each acknowledgement came.
struct MemoryQueue {
    queued: Mutex<VecDeque<Box<RawValue>>>,
    top: usize,
    sink: Arc<MemorySink>,
    /// (AckId, products published by then, dead letters by then)
    acks: Mutex<Vec<(String, usize, usize)>>,
}

impl MemoryQueue {
    fn holding(notifications: &str, sink: &Arc<MemorySink>) -> Self {
        Self {
            queued: Mutex::new(split_body(notifications.as_bytes()).unwrap().into()),
            top: 20,
            sink: sink.clone(),
            acks: Mutex::default(),
        }
    }

    fn acks(&self) -> Vec<(String, usize, usize)> {
        self.acks.lock().unwrap().clone()
    }
}

impl NotificationQueue for MemoryQueue {
    async fn read(&self) -> Result<Vec<Box<RawValue>>, Error> {
        let queued = self.queued.lock().unwrap();
        Ok(queued.iter().take(self.top).cloned().collect())
    }

    async fn ack(&self, ack_id: &str) -> Result<AckAnswer, Error> {
        let mut queued = self.queued.lock().unwrap();
        let position = queued
            .iter()
            .position(|raw| {
                serde_json::from_str::<Value>(raw.get()).unwrap()["AckId"].as_str() == Some(ack_id)
            })
            .expect("acknowledged an AckId the queue handed out");
        queued.drain(..=position);
        self.acks.lock().unwrap().push((
            ack_id.to_owned(),
            self.sink.published.lock().unwrap().len(),
            self.sink.dead_letters.lock().unwrap().len(),
        ));
        Ok(AckAnswer {
            acknowledged: Some(position as u64 + 1),
            queue_length: Some(queued.len() as u64),
            max_queue_length: Some(100_000),
        })
    }

    fn origin(&self) -> String {
        "memory queue".into()
    }
}

/// The puller's sink is shared with the queue, which looks into it at each acknowledgement.
struct Shared(Arc<MemorySink>);

impl ProductSink for Shared {
    async fn publish(&self, discovery: Discovery) -> Result<bool, Error> {
        self.0.publish(discovery).await
    }

    async fn dead_letter(&self, origin: &str, entity: &[u8], reason: &str) -> Result<(), Error> {
        self.0.dead_letter(origin, entity, reason).await
    }

    async fn alert(&self, alert: Alert) -> Result<(), Error> {
        self.0.alert(alert).await
    }
}

fn catalogue() -> OdataSource {
    OdataSource::new(Url::parse("https://catalogue.dataspace.copernicus.eu/odata/v1").unwrap())
}

fn puller(notifications: &str) -> (SubscriptionPuller<MemoryQueue, Shared>, Arc<MemorySink>) {
    let sink = Arc::new(MemorySink::default());
    let feed = FeedConfig::cdse("pull", catalogue().url);
    let client = Arc::new(HttpClient::new(&feed, None).unwrap());
    let puller = SubscriptionPuller {
        reader: NotificationReader::new("pull", &catalogue(), client),
        queue: MemoryQueue::holding(notifications, &sink),
        top: 20,
        feed,
        sink: Shared(sink.clone()),
    };
    (puller, sink)
}

fn pulled() -> Vec<Value> {
    serde_json::from_str(&fixture("pull_read_response_created_IW_GRDH_1S.json")).unwrap()
}

#[tokio::test]
async fn a_batch_is_acknowledged_once_by_its_last_ack_id_after_every_puback() {
    let (puller, sink) = puller(&fixture("pull_read_response_created_IW_GRDH_1S.json"));
    let report = puller.round().await.unwrap();
    let last = pulled()[1]["AckId"].as_str().unwrap().to_owned();
    assert_eq!(
        puller.queue.acks(),
        [(last.clone(), 2, 0)],
        "one acknowledgement, sent when both products were in"
    );
    assert_eq!(sink.published_keys().len(), 2);
    assert_eq!(
        (report.notifications, report.new, report.rejected),
        (2, 2, 0)
    );
    assert_eq!(report.acknowledged, Some(last));
    assert_eq!(report.queue_length, Some(0));
    assert_eq!(
        puller.round().await.unwrap(),
        RoundReport::default(),
        "the queue is empty"
    );
}

#[tokio::test]
async fn an_unreadable_notification_is_dead_lettered_before_the_batch_is_acknowledged() {
    let mut notifications = pulled();
    notifications[0]["SubscriptionEvent"] = "archived".into();
    let body = Value::Array(notifications).to_string();
    let (puller, sink) = puller(&body);
    let report = puller.round().await.unwrap();
    assert_eq!((report.new, report.rejected), (1, 1));
    let dead_letters = sink.dead_letters.lock().unwrap().clone();
    let first = split_body(body.as_bytes()).unwrap().remove(0);
    assert_eq!(dead_letters.len(), 1);
    assert_eq!(dead_letters[0].1, first.get(), "kept byte for byte");
    assert!(
        dead_letters[0]
            .2
            .ends_with("SubscriptionEvent is not one of created, modified, deleted"),
        "{}",
        dead_letters[0].2
    );
    let acks = puller.queue.acks();
    assert_eq!(acks.len(), 1);
    assert_eq!(
        (acks[0].1, acks[0].2),
        (1, 1),
        "acknowledged after the product and the dead letter were in"
    );
    assert!(puller.queue.queued.lock().unwrap().is_empty(), "not stuck");
}

#[tokio::test]
async fn a_failed_publish_leaves_the_batch_queued_and_the_next_round_delivers_it() {
    let (puller, sink) = puller(&fixture("pull_read_response_created_IW_GRDH_1S.json"));
    sink.unreachable.store(true, Ordering::SeqCst);
    let error = puller.round().await.unwrap_err();
    assert!(matches!(error, Error::Publish { .. }), "{error:?}");
    assert!(puller.queue.acks().is_empty(), "nothing acknowledged");
    assert_eq!(puller.queue.queued.lock().unwrap().len(), 2);

    sink.unreachable.store(false, Ordering::SeqCst);
    let report = puller.round().await.unwrap();
    assert_eq!(report.notifications, 2);
    assert_eq!(puller.queue.acks().len(), 1);
    assert!(puller.queue.queued.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_failing_subscription_raises_feed_failing_after_the_streak() {
    let (mut puller, sink) = puller(&fixture("pull_read_response_created_IW_GRDH_1S.json"));
    puller.feed.alert_after_failures = 2;
    puller.feed.retry.min_delay = Duration::from_millis(1);
    puller.feed.retry.max_delay = Duration::from_millis(5);
    sink.unreachable.store(true, Ordering::SeqCst);
    let (stop, shutdown) = nrt_runtime::shutdown::manual();
    let puller = Arc::new(puller);
    let running = tokio::spawn({
        let puller = puller.clone();
        async move { puller.run(shutdown).await }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while sink.alerts.lock().unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no alert raised");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.trigger();
    running.await.unwrap();
    let alert = sink.alerts.lock().unwrap()[0].clone();
    assert_eq!(alert.kind, "feed-failing");
    assert!(
        alert
            .message
            .starts_with("feed pull failed 2 polls in a row; last error: could not publish"),
        "{}",
        alert.message
    );
    assert!(puller.queue.acks().is_empty());
}

fn cdse_queue() -> CdseQueue {
    let feed = FeedConfig::cdse("pull", catalogue().url);
    let source = PullSource {
        subscription_id: SUBSCRIPTION.into(),
        top: 20,
        catalogue: catalogue(),
    };
    CdseQueue::new(&source, Arc::new(HttpClient::new(&feed, None).unwrap()))
}

#[test]
fn read_and_ack_are_asked_as_cdse_documents_them() {
    let queue = cdse_queue();
    assert_eq!(
        queue.read_url().as_str(),
        format!(
            "https://catalogue.dataspace.copernicus.eu/odata/v1/Subscriptions({SUBSCRIPTION})/Read?%24top=20"
        )
    );
    let ack_id = pulled()[1]["AckId"].as_str().unwrap().to_owned();
    let url = queue.ack_url(&ack_id);
    assert_eq!(
        url.as_str(),
        format!(
            "https://catalogue.dataspace.copernicus.eu/odata/v1/Subscriptions({SUBSCRIPTION})/Ack?%24ackid=MTcxMDc1NjcwNjY2NC0wOjk5MWM0NzMwLWNmNmYtNDMyYS05ZjZjLTQ3YmUwMjMwZmY0NQ%3D%3D"
        )
    );
    let decoded: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert_eq!(
        decoded,
        [("$ackid".to_owned(), ack_id)],
        "the padding survives"
    );
}

#[test]
fn an_acknowledgement_answer_is_read_as_cdse_documents_it() {
    let answer: AckAnswer = serde_json::from_str(&fixture("pull_ack_response.json")).unwrap();
    assert_eq!(
        answer,
        AckAnswer {
            acknowledged: Some(2),
            queue_length: Some(2115),
            max_queue_length: Some(100_000),
        }
    );
}

#[test]
fn a_missing_subscription_is_named_with_cdse_own_words() {
    let queue = cdse_queue();
    let detail = crate::http::excerpt(&fixture("subscription_not_found_404_response.json"));
    let error = queue.not_found(Error::Status {
        url: queue.read_url().to_string(),
        status: 404,
        retry_after: None,
        detail,
        retry_with_new_token: false,
    });
    assert!(!error.is_transient());
    assert_eq!(
        error.to_string(),
        format!(
            "subscription {SUBSCRIPTION} does not exist at {} (cancelled, or owned by another \
             account): {{ \"detail\": {{ \"message\": \"Subscription with id {SUBSCRIPTION} not \
             found.\", \"request_id\": \"aed89ead-b495-4f76-b6e9-51870973a44e\" }} }}",
            queue.read_url()
        )
    );
}
