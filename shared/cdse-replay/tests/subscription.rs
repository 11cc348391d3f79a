//! The replay's pull subscription and product lookup, as CDSE documents them.

use nrt_cdse_replay::{Fault, ReplayFeed, ReplayOptions, RunningReplay};
use serde_json::Value;

const SUBSCRIPTION: &str = "991c4730-cf6f-432a-9f6c-47be0230ff45";

async fn replay() -> RunningReplay {
    let replay = ReplayFeed::recorded()
        .start(ReplayOptions::default())
        .await
        .unwrap();
    replay.open_subscription(SUBSCRIPTION);
    replay
}

async fn call(method: reqwest::Method, url: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .request(method, url)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn read_url(replay: &RunningReplay, query: &str) -> String {
    format!("{}/Subscriptions({SUBSCRIPTION})/Read{query}", replay.url())
}

fn ack_url(replay: &RunningReplay, ack_id: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("$ackid", ack_id)
        .finish();
    format!("{}/Subscriptions({SUBSCRIPTION})/Ack?{query}", replay.url())
}

#[tokio::test]
async fn read_leaves_notifications_queued_until_an_ack_removes_them_and_all_before() {
    let replay = replay().await;
    let ack_ids = replay.notify_created(0..25, true);
    let (status, first) = call(reqwest::Method::GET, &read_url(&replay, "")).await;
    assert_eq!(status, 200);
    assert_eq!(first.as_array().unwrap().len(), 1, "one by default");
    let (_, batch) = call(reqwest::Method::GET, &read_url(&replay, "?%24top=20")).await;
    let batch = batch.as_array().unwrap();
    assert_eq!(batch.len(), 20);
    assert_eq!(batch[0], first[0], "reading removes nothing");
    assert_eq!(batch[0]["SubscriptionEvent"], "created");
    assert_eq!(batch[0]["ProductId"], batch[0]["value"]["Id"]);
    assert_eq!(batch[3]["AckId"], ack_ids[3].as_str());

    let (status, answer) = call(reqwest::Method::POST, &ack_url(&replay, &ack_ids[19])).await;
    assert_eq!(status, 200);
    assert_eq!(answer["AckMessagesNum"], 20);
    assert_eq!(answer["CurrentQueueLength"], 5);
    assert_eq!(replay.queued_notifications(), 5);
    let acknowledged = replay.acknowledgements();
    assert_eq!(
        (acknowledged[0].ack_id.as_str(), acknowledged[0].removed),
        (ack_ids[19].as_str(), 20)
    );
    let (_, rest) = call(reqwest::Method::GET, &read_url(&replay, "?$top=20")).await;
    assert_eq!(rest[0]["AckId"], ack_ids[20].as_str());
}

#[tokio::test]
async fn notifications_past_three_days_carry_only_the_id_which_the_catalogue_resolves() {
    let replay = replay().await;
    replay.notify_created(3..4, false);
    let (_, batch) = call(reqwest::Method::GET, &read_url(&replay, "")).await;
    let notification = &batch[0];
    assert!(notification.get("value").is_none());
    assert!(notification.get("ProductName").is_none());
    let id = notification["ProductId"].as_str().unwrap();
    let (status, entity) = call(
        reqwest::Method::GET,
        &format!("{}/Products({id})?$expand=Attributes", replay.url()),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(entity["Id"], id);

    assert!(replay.delete(id, "Corrupted product"));
    let (status, error) = call(
        reqwest::Method::GET,
        &format!("{}/Products({id})", replay.url()),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        error["detail"]["message"],
        format!("Product with id {id} not found.")
    );
}

#[tokio::test]
async fn another_subscription_is_not_found_as_cdse_says_it_and_bad_reads_are_named() {
    let replay = replay().await;
    let other = "7ca682c3-7b21-4e9b-952e-874798101340";
    let (status, error) = call(
        reqwest::Method::GET,
        &format!("{}/Subscriptions({other})/Read", replay.url()),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        error["detail"]["message"],
        format!("Subscription with id {other} not found.")
    );
    let (status, error) = call(reqwest::Method::GET, &read_url(&replay, "?$top=21")).await;
    assert_eq!(status, 400);
    assert_eq!(
        error["detail"]["message"],
        "$top must be from 1 to 20, not 21"
    );
    let (status, _) = call(reqwest::Method::POST, &ack_url(&replay, "unknown")).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn failed_acknowledgements_remove_nothing() {
    let replay = replay().await;
    let ack_ids = replay.notify_created(0..2, true);
    replay.fail_acks(Fault::Status(503), 1);
    let (status, _) = call(reqwest::Method::POST, &ack_url(&replay, &ack_ids[1])).await;
    assert_eq!(status, 503);
    assert_eq!(replay.queued_notifications(), 2);
    assert!(replay.acknowledgements().is_empty());
    let (status, _) = call(reqwest::Method::POST, &ack_url(&replay, &ack_ids[1])).await;
    assert_eq!(status, 200);
    assert_eq!(replay.queued_notifications(), 0);
}
