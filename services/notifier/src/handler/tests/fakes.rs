//! In-memory stand-ins for the sender, the delivery log and the alert stream.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use tokio::sync::Notify;

use crate::{
    handler::{Alerts, DeliveryLog, Sender, Settlement, StoreError},
    notification::Notification,
    webhook::{Endpoint, EndpointOutcome},
};
use nrt_events::Alert;

/// Answers per endpoint name, in order; the last answer repeats.
#[derive(Default)]
pub struct ScriptedSender {
    pub script: Mutex<HashMap<String, VecDeque<EndpointOutcome>>>,
    pub sent: Mutex<Vec<(String, String)>>,
    /// Endpoints that wait for another's delivery before answering: (waiter, awaited signal).
    pub waits: HashMap<String, Arc<Notify>>,
    pub signals: HashMap<String, Arc<Notify>>,
}

impl ScriptedSender {
    pub fn answering(answers: &[(&str, EndpointOutcome)]) -> Self {
        let sender = Self::default();
        for (name, outcome) in answers {
            sender
                .script
                .lock()
                .unwrap()
                .entry((*name).to_owned())
                .or_default()
                .push_back(outcome.clone());
        }
        sender
    }

    pub fn sent_to(&self, name: &str) -> usize {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, _)| n == name)
            .count()
    }
}

impl Sender for ScriptedSender {
    async fn deliver(&self, endpoint: &Endpoint, notification: &Notification) -> EndpointOutcome {
        if let Some(awaited) = self.waits.get(endpoint.name()) {
            awaited.notified().await;
        }
        self.sent
            .lock()
            .unwrap()
            .push((endpoint.name().to_owned(), notification.id.clone()));
        if let Some(signal) = self.signals.get(endpoint.name()) {
            signal.notify_one();
        }
        let mut script = self.script.lock().unwrap();
        let answers = script.get_mut(endpoint.name()).expect("scripted endpoint");
        if answers.len() > 1 {
            answers.pop_front().unwrap()
        } else {
            answers.front().cloned().unwrap()
        }
    }
}

#[derive(Default)]
pub struct MemoryLog {
    pub records: Mutex<HashMap<String, Settlement>>,
    pub unreadable: bool,
    pub unwritable: bool,
}

impl DeliveryLog for MemoryLog {
    async fn is_settled(&self, key: &str) -> Result<bool, StoreError> {
        if self.unreadable {
            return Err("bucket unavailable".into());
        }
        Ok(self.records.lock().unwrap().contains_key(key))
    }

    async fn record(&self, key: &str, settlement: &Settlement) -> Result<(), StoreError> {
        if self.unwritable {
            return Err("bucket unavailable".into());
        }
        self.records
            .lock()
            .unwrap()
            .insert(key.to_owned(), settlement.clone());
        Ok(())
    }
}

#[derive(Default)]
pub struct MemoryAlerts(pub Mutex<Vec<Alert>>);

impl Alerts for MemoryAlerts {
    async fn raise(&self, alert: Alert) -> Result<(), StoreError> {
        self.0.lock().unwrap().push(alert);
        Ok(())
    }
}
