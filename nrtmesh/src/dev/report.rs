//! The end of `nrtmesh dev`: each selected product's journey and a summary.

use crate::{dev::progress::short_type, history::History, receiver::Receipt};

/// Prints the journeys and the summary; returns whether the run was clean (no failure, no dead
/// job, no dead letter, every item notified).
pub fn print(
    history: &History,
    receipts: &[Receipt],
    feed_products: usize,
    complete: bool,
) -> bool {
    let journeys = history.journeys();
    let selected: Vec<_> = journeys
        .iter()
        .filter(|journey| !journey.jobs.is_empty())
        .collect();
    println!("\nJourneys of the {} selected products", selected.len());
    let mut latencies = Vec::new();
    for journey in &selected {
        let start = journey.product.time;
        println!(
            "\n{} ({} {})",
            journey.product.data.key,
            journey.product.data.collection,
            journey.product.data.product_type
        );
        let mut steps = journey.steps();
        for receipt in receipts {
            let job_id = receipt.event["data"]["job_id"].as_str().unwrap_or_default();
            if journey
                .jobs
                .iter()
                .any(|job| job.request.data.job_id == job_id)
            {
                steps.push((
                    receipt.received_at,
                    format!(
                        "notified {}: {} (signature verified)",
                        receipt.endpoint,
                        short_type(receipt.event_type())
                    ),
                ));
            }
        }
        steps.sort_by_key(|(time, _)| *time);
        for (time, step) in &steps {
            println!("  {:>+8.3}s  {step}", seconds(*time - start));
        }
        for job in &journey.jobs {
            if let Some(item) = job.items.first() {
                latencies.push(seconds(item.time - start));
            }
        }
    }

    let failures = history.failed.len();
    let notified_items = receipts
        .iter()
        .filter(|r| short_type(r.event_type()) == "item.published")
        .count();
    latencies.sort_by(f64::total_cmp);
    println!("\nSummary");
    println!("  products in the feed      {feed_products}");
    println!("  discovered                {}", history.products.len());
    println!(
        "  selected by the rules     {} ({} not selected)",
        selected.len(),
        history.products.len() - selected.len()
    );
    println!("  jobs requested            {}", history.requests.len());
    println!("  jobs succeeded            {}", history.succeeded.len());
    println!("  attempts failed           {failures}");
    println!("  jobs dead                 {}", history.dead.len());
    println!("  items published           {}", history.items.len());
    println!("  webhooks verified         {notified_items}");
    println!("  dead letters              {}", history.dead_letters);
    if let (Some(first), Some(last)) = (latencies.first(), latencies.last()) {
        println!(
            "  discovered → published    median {:.3}s, max {last:.3}s (min {first:.3}s)",
            latencies[latencies.len() / 2]
        );
    }
    let clean = complete
        && failures == 0
        && history.dead.is_empty()
        && history.dead_letters == 0
        && history.items.len() == history.succeeded.len()
        && notified_items == history.items.len();
    println!(
        "\n{}",
        if clean {
            "Every selected product was processed, published and notified."
        } else {
            "The run was not clean: see above."
        }
    );
    clean
}

fn seconds(duration: chrono::TimeDelta) -> f64 {
    duration.num_microseconds().unwrap_or(0) as f64 / 1e6
}
