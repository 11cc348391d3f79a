//! The rest of the CDSE catalogue: products CDSE withdraws become `product-retracted` events, and
//! a feed with an account logs in, renews its token before it expires, and names a refused login.

mod common;

use std::time::Duration;

use common::*;
use ingestor::auth::Credentials;
use nrt_cdse_replay::{Account, ReleaseSchedule, ReplayFeed, ReplayOptions};
use nrt_events::{Alert, ProductRetracted};
use nrt_runtime::Secret;
use url::Url;

#[tokio::test]
async fn products_deleted_from_the_catalogue_are_retracted_once_each() {
    let nats = nats().await;
    let replay = ReplayFeed::recorded()
        .start(ReplayOptions::default())
        .await
        .unwrap();
    let mut feed = replay_feed("cdse", &replay);
    feed.odata_mut().unwrap().deletions = true;
    let mut products = products_tap(&nats).await;
    let mut retractions = retractions_tap(&nats).await;
    let ingestor = Ingestor::start(config(&nats, vec![feed]));
    let discovered = next_products(&mut products, 39).await;

    let withdrawn = [&discovered[3], &discovered[17]];
    for product in withdrawn {
        assert!(replay.delete(&product.feed_id, "Duplicated product"));
    }
    let mut retracted = Vec::new();
    for _ in withdrawn {
        let event: ProductRetracted = retractions.next(WAIT).await.unwrap().data;
        retracted.push(event);
    }
    assert!(retractions.drain_raw(QUIET).await.is_empty(), "once each");
    ingestor.stop().await;

    retracted.sort_by(|a, b| a.feed_id.cmp(&b.feed_id));
    let mut expected: Vec<_> = withdrawn.to_vec();
    expected.sort_by(|a, b| a.feed_id.cmp(&b.feed_id));
    for (event, product) in retracted.iter().zip(expected) {
        assert_eq!(event.key, product.key);
        assert_eq!(event.name, product.name);
        assert_eq!(
            event.collection.as_deref(),
            Some(product.collection.as_str())
        );
        assert_eq!(
            event.product_type.as_deref(),
            Some(product.product_type.as_str())
        );
        assert_eq!(event.cause.as_deref(), Some("Duplicated product"));
        assert_eq!(event.feed, "cdse");
    }
    // Deletions keep their own cursor beside the products'.
    let deletions = stored_cursor(&nats, "cdse.deletions").await.unwrap();
    assert_eq!(
        deletions.published_at,
        retracted.iter().map(|r| r.retracted_at).max().unwrap()
    );
    assert_eq!(stored_product_count(&nats).await, 39 + 2);
}

fn account(access: Duration) -> Account {
    Account {
        username: "ops@example.org".into(),
        password: "correct horse".into(),
        access_lifetime: access,
        refresh_lifetime: access * 3,
    }
}

#[tokio::test]
async fn a_feed_with_an_account_logs_in_and_refreshes_before_the_token_expires() {
    let nats = nats().await;
    let replay = ReplayFeed::recorded()
        .start(ReplayOptions {
            schedule: ReleaseSchedule::Manual { visible: 10 },
            account: Some(account(Duration::from_secs(2))),
            ..ReplayOptions::default()
        })
        .await
        .unwrap();
    let mut feed = replay_feed("cdse", &replay);
    feed.odata_mut().unwrap().credentials = Some(Credentials {
        token_url: Url::parse(&replay.token_url()).unwrap(),
        client_id: "cdse-public".into(),
        username: "ops@example.org".into(),
        password: Secret::new("correct horse"),
    });
    let mut tap = products_tap(&nats).await;
    let ingestor = Ingestor::start(config(&nats, vec![feed]));
    next_products(&mut tap, 10).await;
    // Polls go on past two token lifetimes before the rest is released.
    eventually("the token was refreshed twice", async || {
        replay
            .token_grants()
            .iter()
            .filter(|grant| *grant == "refresh_token")
            .count()
            >= 2
    })
    .await;
    replay.release(29);
    next_products(&mut tap, 29).await;
    ingestor.stop().await;

    let grants = replay.token_grants();
    assert_eq!(grants[0], "password");
    assert_eq!(
        grants.iter().filter(|grant| *grant == "password").count(),
        1,
        "refreshes, not new logins: {grants:?}"
    );
    assert!(
        replay
            .requests()
            .iter()
            .all(|request| request.status == 200),
        "no request carried an expired token"
    );
}

#[tokio::test]
async fn a_refused_login_alerts_with_the_user_and_never_the_password() {
    let nats = nats().await;
    let replay = ReplayFeed::recorded()
        .start(ReplayOptions {
            account: Some(account(Duration::from_secs(600))),
            ..ReplayOptions::default()
        })
        .await
        .unwrap();
    let mut feed = replay_feed("cdse", &replay);
    feed.odata_mut().unwrap().credentials = Some(Credentials {
        token_url: Url::parse(&replay.token_url()).unwrap(),
        client_id: "cdse-public".into(),
        username: "ops@example.org".into(),
        password: Secret::new("wrong horse"),
    });
    let mut alerts = failing_alerts_tap(&nats).await;
    let ingestor = Ingestor::start(config(&nats, vec![feed]));
    let alert: Alert = alerts.next(WAIT).await.unwrap().data;
    ingestor.stop().await;
    assert!(
        alert.message.contains(&format!(
            "could not log in to {} as ops@example.org: 401 Unauthorized",
            replay.token_url()
        )),
        "{}",
        alert.message
    );
    assert!(alert.message.contains("invalid_grant"), "{}", alert.message);
    assert!(!alert.message.contains("wrong horse"));
    assert!(
        replay.requests().is_empty(),
        "no catalogue request without a token"
    );
    assert_eq!(stored_product_count(&nats).await, 0);
}
