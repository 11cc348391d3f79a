//! `nrtmesh rules`: check a rules file as the trigger would, try it on a product, and publish it
//! to the triggers that read their rules from the `trigger-rules` bucket.

use std::path::Path;

use anyhow::Context;
use async_nats::jetstream;
use chrono::{DateTime, Utc};
use nrt_events::{
    Envelope, EventData, JobInput, ProductDiscovered,
    streams::{KV_TRIGGER_RULES, KV_TRIGGER_RULES_KEY},
};
use nrt_registry::ProcessorRegistry;
use trigger::{
    Firing, Rules,
    rules::{GatheringKind, Rule},
};

/// A rules file that passed the trigger's checks, with the registry it was checked against.
pub struct Checked {
    /// The file's text: what `publish` puts in the bucket, exactly as checked.
    pub text: String,
    pub rules: Rules,
    pub registry: ProcessorRegistry,
}

/// Reads `file` and checks it against the registry at `registry`, as the trigger does at start;
/// area files are read relative to `file`'s directory.
pub fn load(file: &Path, registry: &Path) -> Result<Checked, trigger::Error> {
    let registry = ProcessorRegistry::load(registry)?;
    let text = trigger::rules::read_text(file)?;
    let rules = Rules::parse_in(
        &text,
        &file.display().to_string(),
        &trigger::rules::base_dir(file),
        &registry,
    )?;
    Ok(Checked {
        text,
        rules,
        registry,
    })
}

/// `FILE: N rules OK`, then one line per rule: name, processor, kind.
pub fn summary(file: &Path, checked: &Checked) -> String {
    let rules: Vec<&Rule> = checked.rules.iter().collect();
    let name_width = rules.iter().map(|rule| rule.name.len()).max().unwrap_or(0);
    let processor_width = rules
        .iter()
        .map(|rule| rule.processor.len())
        .max()
        .unwrap_or(0);
    let mut text = format!("{}: {} rules OK\n", file.display(), rules.len());
    for rule in rules {
        text.push_str(&format!(
            "  {:name_width$}  {:processor_width$}  {}\n",
            rule.name,
            rule.processor,
            kind(rule)
        ));
    }
    text
}

fn kind(rule: &Rule) -> &'static str {
    match rule.gathering.as_ref().map(|gathering| &gathering.kind) {
        None => "plain",
        Some(GatheringKind::Join { .. }) => "join",
        Some(GatheringKind::Periodic { .. }) => "periodic",
    }
}

/// A product as the ingestor describes it: a bare `ProductDiscovered` JSON document, or a
/// CloudEvent of one as it sits in the PRODUCTS stream. `name` names the input in errors.
pub fn parse_product(name: &str, body: &[u8]) -> anyhow::Result<ProductDiscovered> {
    let is_cloud_event = serde_json::from_slice::<serde_json::Value>(body)
        .is_ok_and(|value| value.get("specversion").is_some());
    if is_cloud_event {
        Ok(Envelope::<ProductDiscovered>::from_json(body)
            .with_context(|| format!("{name} is a CloudEvent but not a discovered product"))?
            .data)
    } else {
        let mut document = serde_json::Deserializer::from_slice(body);
        serde_path_to_error::deserialize(&mut document).with_context(|| {
            format!("{name} is neither a ProductDiscovered document nor a CloudEvent of one")
        })
    }
}

/// Every rule's verdict on `product` at `now`, in file order: the job request a plain rule
/// would publish, the group a gathering rule would add the product to, or why a rule does not
/// match.
pub fn explain(
    checked: &Checked,
    product: &ProductDiscovered,
    now: DateTime<Utc>,
) -> Result<String, trigger::Error> {
    let verdicts = trigger::explain(product, &checked.rules, now);
    let input = JobInput::from(product);
    let mut text = format!(
        "Product {} ({} {}) at {}:\n",
        product.key,
        product.collection,
        product.product_type,
        now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    for verdict in &verdicts {
        text.push_str(&format!("  {verdict}\n"));
        if let Ok(Firing::Alone) = verdict.outcome {
            let job = trigger::request_alone(verdict.rule, &checked.registry, &input)?;
            let json = serde_json::to_value(&job).expect("a job request always serialises");
            text.push_str(&format!("    would publish on {}:\n    ", job.subject()));
            write_json(&json, 4, &mut text);
            text.push('\n');
        }
    }
    let matching = verdicts.iter().filter(|verdict| verdict.is_match()).count();
    text.push_str(&format!("{matching} of {} rules match.\n", verdicts.len()));
    Ok(text)
}

/// Writes `value` as indented JSON, except that an array holding no object stays on one line: a
/// footprint takes one line instead of hundreds.
fn write_json(value: &serde_json::Value, indent: usize, out: &mut String) {
    use serde_json::Value;
    let holds_object = |items: &[Value]| {
        items.iter().any(|item| match item {
            Value::Object(_) => true,
            Value::Array(inner) => inner.iter().any(Value::is_object),
            _ => false,
        })
    };
    let (open, close, entries): (char, char, Vec<(Option<&String>, &Value)>) = match value {
        Value::Object(fields) if !fields.is_empty() => {
            ('{', '}', fields.iter().map(|(k, v)| (Some(k), v)).collect())
        }
        Value::Array(items) if holds_object(items) => {
            ('[', ']', items.iter().map(|v| (None, v)).collect())
        }
        _ => {
            out.push_str(&value.to_string());
            return;
        }
    };
    out.push(open);
    for (index, (key, item)) in entries.iter().enumerate() {
        out.push_str(if index == 0 { "\n" } else { ",\n" });
        out.push_str(&" ".repeat(indent + 2));
        if let Some(key) = key {
            out.push_str(&format!("{}: ", Value::from(key.as_str())));
        }
        write_json(item, indent + 2, out);
    }
    out.push('\n');
    out.push_str(&" ".repeat(indent));
    out.push(close);
}

/// Puts the checked text in the `trigger-rules` bucket, where triggers with `rules_from = "kv"`
/// find it within their reload period; returns the new revision.
pub async fn publish(js: &jetstream::Context, checked: &Checked) -> anyhow::Result<u64> {
    let store = js.get_key_value(KV_TRIGGER_RULES).await.with_context(|| {
        format!(
            "cannot open bucket {KV_TRIGGER_RULES}: run `nrtmesh streams apply`, or start a trigger"
        )
    })?;
    store
        .put(KV_TRIGGER_RULES_KEY, checked.text.clone().into())
        .await
        .with_context(|| {
            format!("cannot put key {KV_TRIGGER_RULES_KEY} in bucket {KV_TRIGGER_RULES}")
        })
}

#[cfg(test)]
mod tests;
