//! Writing to Kafka: the producer side shared by `logpulse produce` and the Kafka notifier.
//!
//! librdkafka reports a failed delivery only to the producer's context, never from
//! `send`: [`Deliveries`] counts them, so that a caller can tell after a flush whether
//! everything it queued arrived.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, ProducerContext};

/// Counts failed deliveries: librdkafka reports them only here, not from `send`.
#[derive(Default)]
pub struct Deliveries {
    pub failed: AtomicU64,
    pub first_error: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            self.first_error.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert_with(|| e.to_string());
        }
    }
}

/// Queues messages to one topic, counting them.
pub struct Sender<'a> {
    pub producer: &'a BaseProducer<Deliveries>,
    pub topic: &'a str,
    /// Every message goes to this partition; `None`: by key (librdkafka's partitioner).
    pub partition: Option<i32>,
    /// Messages queued so far.
    pub messages: u64,
}

impl Sender<'_> {
    /// Queues one message, waiting while librdkafka's queue is full.
    pub fn send(&mut self, payload: &[u8], key: Option<&str>) -> anyhow::Result<()> {
        loop {
            let mut record = BaseRecord::<str, [u8]>::to(self.topic).payload(payload);
            if let Some(key) = key {
                record = record.key(key);
            }
            if let Some(p) = self.partition {
                record = record.partition(p);
            }
            match self.producer.send(record) {
                Ok(()) => {
                    self.messages += 1;
                    self.producer.poll(Duration::ZERO);
                    return Ok(());
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    self.producer.poll(Duration::from_millis(50));
                }
                Err((e, _)) => return Err(e).context("producing a message"),
            }
        }
    }
}
