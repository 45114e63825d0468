//! The Kafka sink: alerts to a topic, keyed by owner.

use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord};

use super::SinkError;
use crate::alerts::{Alert, AlertFormat, UNOWNED};

/// Alerts to a Kafka topic, keyed by owner so that each owner's alerts stay ordered.
pub struct KafkaSink {
    producer: FutureProducer,
    topic: String,
    format: AlertFormat,
}

impl KafkaSink {
    /// A sink producing to `topic` in `format`.
    pub fn new(producer: FutureProducer, topic: String, format: AlertFormat) -> Self {
        Self {
            producer,
            topic,
            format,
        }
    }

    pub(super) async fn send(&self, alerts: &[Alert]) -> Result<(), SinkError> {
        let payloads = alerts
            .iter()
            .map(|a| self.format.encode(a))
            .collect::<Result<Vec<_>, _>>()?;
        let sends = alerts.iter().zip(&payloads).map(|(alert, payload)| {
            let key = alert.owner.as_deref().unwrap_or(UNOWNED);
            let record = FutureRecord::to(&self.topic).key(key).payload(payload);
            self.producer.send(record, Duration::from_secs(5))
        });
        for result in futures::future::join_all(sends).await {
            result.map_err(|(source, _)| SinkError::Kafka {
                topic: self.topic.clone(),
                source,
            })?;
        }
        Ok(())
    }
}
