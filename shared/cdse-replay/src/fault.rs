//! Faults a test can make the replay answer with, in place of its next responses.

use std::{collections::VecDeque, sync::Mutex, time::Duration};

/// One way the feed misbehaves, as CDSE or a proxy in front of it has been seen to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// This HTTP status (500, 502, 503, ...) with a CDSE-style JSON error body.
    Status(u16),
    /// 429 Too Many Requests with `Retry-After` in whole seconds (rounded up).
    TooManyRequests { retry_after: Duration },
    /// 200 with the page's JSON cut off half-way.
    TruncatedBody,
    /// 200 labelled JSON whose body is a proxy's HTML error page.
    MalformedBody,
    /// 200 with a JSON object that has no `value`.
    MissingValue,
    /// 200 with the page padded with whitespace to this many bytes: valid, but too big.
    OversizedBody { bytes: usize },
    /// The page is served, but its first entry lacks this field (e.g. `ContentDate`).
    EntryWithout(String),
    /// Waits this long, then answers normally.
    Delay(Duration),
}

/// Faults waiting for responses, first injected first used.
#[derive(Debug, Default)]
pub(crate) struct FaultQueue(Mutex<VecDeque<(Fault, usize)>>);

impl FaultQueue {
    pub fn push(&self, fault: Fault, responses: usize) {
        if responses > 0 {
            self.0
                .lock()
                .expect("fault queue lock")
                .push_back((fault, responses));
        }
    }

    /// The fault for the response about to be sent, if any.
    pub fn take(&self) -> Option<Fault> {
        let mut queue = self.0.lock().expect("fault queue lock");
        let (fault, remaining) = queue.front_mut()?;
        let fault = fault.clone();
        *remaining -= 1;
        if *remaining == 0 {
            queue.pop_front();
        }
        Some(fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_apply_to_the_next_responses_in_order() {
        let queue = FaultQueue::default();
        queue.push(Fault::Status(503), 2);
        queue.push(Fault::MalformedBody, 1);
        queue.push(Fault::TruncatedBody, 0);
        assert_eq!(queue.take(), Some(Fault::Status(503)));
        assert_eq!(queue.take(), Some(Fault::Status(503)));
        assert_eq!(queue.take(), Some(Fault::MalformedBody));
        assert_eq!(queue.take(), None);
    }
}
