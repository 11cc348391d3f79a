//! Reading a stream from the start: how tests await the events they expect, and how the
//! operations CLI follows a product's journey.

use std::time::Duration;

use async_nats::jetstream::{
    self,
    consumer::{DeliverPolicy, pull::OrderedConfig},
};
use futures::StreamExt;
use nrt_events::{Envelope, EventData};

#[derive(Debug, thiserror::Error)]
pub enum TapError {
    #[error("no message on {filter} within {timeout:?}")]
    Timeout { filter: String, timeout: Duration },
    #[error("could not read stream {stream}")]
    Stream {
        stream: String,
        #[source]
        source: async_nats::Error,
    },
    #[error("message on {subject} is not the expected event")]
    Decode {
        subject: String,
        #[source]
        source: nrt_events::DecodeError,
    },
}

/// An ordered, ephemeral view of the messages of one stream matching a filter, from the first.
pub struct EventTap {
    filter: String,
    messages: jetstream::consumer::pull::Ordered,
}

impl EventTap {
    pub async fn open(
        js: &jetstream::Context,
        stream: &str,
        filter: &str,
    ) -> Result<Self, TapError> {
        let error = |source: async_nats::Error| TapError::Stream {
            stream: stream.into(),
            source,
        };
        let stream_handle = js.get_stream(stream).await.map_err(|e| error(e.into()))?;
        let consumer = stream_handle
            .create_consumer(OrderedConfig {
                filter_subject: filter.into(),
                deliver_policy: DeliverPolicy::All,
                ..Default::default()
            })
            .await
            .map_err(|e| error(e.into()))?;
        let messages = consumer.messages().await.map_err(|e| error(e.into()))?;
        Ok(Self {
            filter: filter.into(),
            messages,
        })
    }

    /// The next message's subject and body.
    pub async fn next_raw(
        &mut self,
        timeout: Duration,
    ) -> Result<(String, bytes::Bytes), TapError> {
        let timed_out = || TapError::Timeout {
            filter: self.filter.clone(),
            timeout,
        };
        match tokio::time::timeout(timeout, self.messages.next()).await {
            Ok(Some(Ok(message))) => Ok((message.subject.to_string(), message.payload.clone())),
            Ok(Some(Err(error))) => Err(TapError::Stream {
                stream: self.filter.clone(),
                source: error.into(),
            }),
            Ok(None) | Err(_) => Err(timed_out()),
        }
    }

    /// The next event, decoded as `T`.
    pub async fn next<T: EventData>(&mut self, timeout: Duration) -> Result<Envelope<T>, TapError> {
        let (subject, body) = self.next_raw(timeout).await?;
        Envelope::from_json(&body).map_err(|source| TapError::Decode { subject, source })
    }

    /// Every message that arrives until the stream stays quiet for `quiet`.
    pub async fn drain_raw(&mut self, quiet: Duration) -> Vec<(String, bytes::Bytes)> {
        let mut all = Vec::new();
        while let Ok(message) = self.next_raw(quiet).await {
            all.push(message);
        }
        all
    }
}
