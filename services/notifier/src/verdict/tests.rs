//! The verdict on each outcome, by delivery count.

use super::*;

fn schedule() -> Schedule {
    Schedule {
        redelivery_delays: vec![Duration::from_secs(10), Duration::from_secs(60)],
        max_deliveries: 4,
    }
}

fn unreachable(retry_after: Option<u64>) -> Outcome {
    Outcome::Unreachable {
        reason: "HTTP 503 Service Unavailable".into(),
        retry_after: retry_after.map(Duration::from_secs),
    }
}

#[test]
fn an_unreachable_endpoint_is_retried_on_the_schedule_whose_last_delay_repeats() {
    let after = |attempt| match verdict(unreachable(None), attempt, &schedule()) {
        Verdict::Retry { after, .. } => after,
        other => panic!("{other:?}"),
    };
    assert_eq!(after(1), Duration::from_secs(10));
    assert_eq!(after(2), Duration::from_secs(60));
    assert_eq!(after(3), Duration::from_secs(60));
}

#[test]
fn a_retry_after_lengthens_the_schedule_but_never_shortens_it() {
    let longer = verdict(unreachable(Some(120)), 1, &schedule());
    assert_eq!(
        longer,
        Verdict::Retry {
            reason: "HTTP 503 Service Unavailable".into(),
            after: Duration::from_secs(120)
        }
    );
    let shorter = verdict(unreachable(Some(1)), 1, &schedule());
    assert!(matches!(shorter, Verdict::Retry { after, .. } if after == Duration::from_secs(10)));
}

#[test]
fn the_last_delivery_dead_letters_with_the_count_and_the_reason() {
    assert_eq!(
        verdict(unreachable(Some(30)), 4, &schedule()),
        Verdict::DeadLetter {
            reason: "gave up after 4 deliveries: HTTP 503 Service Unavailable".into()
        }
    );
}

#[test]
fn a_rejection_dead_letters_at_once_and_gone_disables() {
    let rejected = Outcome::Rejected {
        reason: "HTTP 401 Unauthorized".into(),
    };
    assert_eq!(
        verdict(rejected, 1, &schedule()),
        Verdict::DeadLetter {
            reason: "HTTP 401 Unauthorized; not retried".into()
        }
    );
    let gone = Outcome::Gone {
        reason: "HTTP 410 Gone".into(),
    };
    assert_eq!(
        verdict(gone, 4, &schedule()),
        Verdict::Disable {
            reason: "HTTP 410 Gone".into()
        }
    );
    assert_eq!(
        verdict(Outcome::Delivered, 4, &schedule()),
        Verdict::Delivered
    );
}
