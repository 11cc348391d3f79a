use std::sync::atomic::Ordering;

use url::Url;

use super::*;
use crate::{feed::Discovery, odata::OdataSource, subscription::fixture, testing::MemorySink};

fn source() -> PushSource {
    PushSource {
        listen: "127.0.0.1:0".parse().unwrap(),
        path: "/notifications".into(),
        username: "cdse".into(),
        password: Secret::new("correct horse battery"),
        catalogue: OdataSource::new(
            Url::parse("https://catalogue.dataspace.copernicus.eu/odata/v1").unwrap(),
        ),
    }
}

fn receiver() -> Receiver<MemorySink> {
    let mut feed = FeedConfig::cdse("push", source().catalogue.url);
    feed.alert_after_failures = 2;
    let client = Arc::new(HttpClient::new(&feed, None).unwrap());
    Receiver::new(&feed, &source(), MemorySink::default(), client)
}

#[tokio::test]
async fn a_created_notification_is_published_before_the_answer() {
    let receiver = receiver();
    let answer = receiver
        .receive(fixture("push_notification_created_S2MSI1C.json").as_bytes())
        .await;
    assert_eq!(
        answer,
        Answer::Delivered {
            notifications: 1,
            new: 1
        }
    );
    assert_eq!(
        receiver.sink.published_keys(),
        ["S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505"]
    );
    assert_eq!(answer.into_response().status(), StatusCode::OK);
}

#[tokio::test]
async fn a_deleted_notification_publishes_a_retraction() {
    let receiver = receiver();
    let answer = receiver
        .receive(fixture("push_notification_deleted_IW_GRDH_1S.json").as_bytes())
        .await;
    assert!(
        matches!(answer, Answer::Delivered { new: 1, .. }),
        "{answer:?}"
    );
    let published = receiver.sink.published.lock().unwrap();
    assert!(
        matches!(&published[..], [Discovery::Retracted(r)] if r.feed == "push"),
        "{published:?}"
    );
}

#[tokio::test]
async fn a_body_that_is_not_a_notification_is_dead_lettered_whole_and_refused() {
    let receiver = receiver();
    let body = fixture("push_notification_created_S2MSI2A.DOCS-ELIDED-NOT-JSON.txt");
    let answer = receiver.receive(body.as_bytes()).await;
    let reason = "the body is not a CDSE notification: expected value at line 36 column 18";
    assert_eq!(answer, Answer::Unreadable(reason.into()));
    assert_eq!(
        *receiver.sink.dead_letters.lock().unwrap(),
        [(
            "POST /notifications (feed push)".to_owned(),
            body,
            reason.to_owned()
        )]
    );
    assert!(receiver.sink.published_keys().is_empty());
    let response = answer.into_response();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let text = axum::body::to_bytes(response.into_body(), 1024)
        .await
        .unwrap();
    assert_eq!(text, format!("{reason}\n"));
}

#[tokio::test]
async fn an_unreadable_notification_beside_a_good_one_is_named_and_the_good_one_delivered() {
    let receiver = receiver();
    let mut notifications: serde_json::Value =
        serde_json::from_str(&fixture("push_notification_modified_IW_GRDH_1S.json")).unwrap();
    let mut broken = notifications[0].clone();
    broken["value"]
        .as_object_mut()
        .unwrap()
        .remove("ContentDate");
    notifications.as_array_mut().unwrap().push(broken);
    let answer = receiver.receive(notifications.to_string().as_bytes()).await;
    assert_eq!(
        answer,
        Answer::Unreadable(
            "product S1C_IW_GRDH_1SDV_20260101T001052_20260101T001117_005702_00B654_ABF9.SAFE: \
             ContentDate is missing or not an object"
                .into()
        )
    );
    assert_eq!(receiver.sink.published_keys().len(), 1);
    assert_eq!(receiver.sink.dead_letters.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn nothing_is_answered_delivered_when_publishing_fails_and_a_streak_alerts() {
    let receiver = receiver();
    receiver.sink.unreachable.store(true, Ordering::SeqCst);
    for body in [
        fixture("push_notification_created_S2MSI1C.json"),
        // Even an unreadable body waits for its dead letter: nothing may be lost.
        "{\"SubscriptionEvent\":".to_owned(),
    ] {
        let answer = receiver.receive(body.as_bytes()).await;
        assert!(matches!(answer, Answer::Unavailable(_)), "{answer:?}");
        assert_eq!(
            answer.into_response().status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    assert!(receiver.sink.dead_letters.lock().unwrap().is_empty());
    let alerts = receiver.sink.alerts.lock().unwrap();
    assert_eq!(alerts.len(), 1, "one alert per streak");
    assert_eq!(alerts[0].kind, "feed-failing");
}

fn basic(credentials: &str) -> HeaderMap {
    let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
    let mut headers = HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Basic {encoded}")).unwrap(),
    );
    headers
}

#[test]
fn only_the_subscription_credentials_are_admitted() {
    let credentials = BasicCredentials::new("cdse", &Secret::new("pass:with:colons"));
    assert!(credentials.admits(&basic("cdse:pass:with:colons")));
    let mut lower_scheme = basic("cdse:pass:with:colons");
    let value = lower_scheme[header::AUTHORIZATION]
        .to_str()
        .unwrap()
        .replace("Basic", "basic");
    lower_scheme.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&value).unwrap(),
    );
    assert!(
        credentials.admits(&lower_scheme),
        "the scheme is case-insensitive"
    );

    for refused in [
        basic("cdse:pass:with:colon"),
        basic("CDSE:pass:with:colons"),
        basic("cdse"),
        basic(""),
    ] {
        assert!(!credentials.admits(&refused), "{refused:?}");
    }
    let mut bearer = HeaderMap::new();
    bearer.insert(
        header::AUTHORIZATION,
        HeaderValue::from_static("Bearer Y2RzZTpwYXNzOndpdGg6Y29sb25z"),
    );
    let mut garbage = HeaderMap::new();
    garbage.insert(
        header::AUTHORIZATION,
        HeaderValue::from_static("Basic not*base64"),
    );
    for refused in [HeaderMap::new(), bearer, garbage] {
        assert!(!credentials.admits(&refused), "{refused:?}");
    }
}
