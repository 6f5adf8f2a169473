//! The Kafka source: a consumer group member whose offsets belong to the caller.
//!
//! Invariants:
//! - auto-commit and the automatic offset store are off: the caller commits an
//!   offset only once everything the records before it produced is durable (its
//!   checkpoint), so a crash re-reads instead of losing;
//! - on assignment, each partition starts where the caller says (its checkpoint);
//!   only a partition the caller knows nothing of starts at the group's committed
//!   offset (or `start` for a new group);
//! - on revocation, the caller is told *before* the partitions are given up, inside
//!   the rebalance, so that it can make them durable before another member gets them.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers, Message, Timestamp};
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use serde::Deserialize;

/// `[[source]] kind = "kafka"` (DESIGN.md, "Worker config").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSourceConfig {
    /// Bootstrap brokers, `host:port[,host:port]`.
    pub brokers: String,
    /// The topics this source reads; every one feeds `stream`.
    pub topics: Vec<String>,
    /// The consumer group; members of one group split the partitions.
    pub group: String,
    /// The stream (of the rule files) the records belong to.
    pub stream: String,
    /// Where a partition with no committed offset and no checkpoint starts.
    #[serde(default)]
    pub start: StartAt,
    /// librdkafka properties passed through (`fetch.max.bytes`, security settings, ...).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

/// Where a partition without any saved position starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartAt {
    /// The oldest record the broker still has: nothing already in the topic is missed.
    #[default]
    Earliest,
    /// Only records produced from now on.
    Latest,
}

/// Properties logpulse owns: letting a user set them would break delivery guarantees.
const RESERVED: &[&str] = &["enable.auto.commit", "enable.auto.offset.store", "group.id", "bootstrap.servers"];

/// Why a Kafka source could not start.
#[derive(Debug, thiserror::Error)]
pub enum KafkaSourceError {
    #[error("property '{0}' is set by logpulse and cannot be overridden")]
    Reserved(String),
    #[error("a kafka source needs at least one topic")]
    NoTopics,
    #[error("{0}")]
    Kafka(#[from] KafkaError),
}

impl KafkaSourceConfig {
    /// Checks what can be checked without a broker.
    pub fn validate(&self) -> Result<(), KafkaSourceError> {
        if self.topics.is_empty() {
            return Err(KafkaSourceError::NoTopics);
        }
        if let Some(key) = self.properties.keys().find(|k| RESERVED.contains(&k.as_str())) {
            return Err(KafkaSourceError::Reserved(key.clone()));
        }
        Ok(())
    }

    /// The librdkafka configuration of this source's consumer.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", &self.group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", if self.start == StartAt::Earliest { "earliest" } else { "latest" })
            // Broker high-water marks for the lag gauge, without a request of our own.
            .set("statistics.interval.ms", "5000")
            // Bounded prefetch: a slow worker stops fetching instead of growing memory.
            .set("queued.max.messages.kbytes", "65536")
            .set_log_level(RDKafkaLogLevel::Warning);
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        config
    }

    /// Creates the consumer and subscribes it to the topics.
    pub fn build<H: PartitionHandler>(&self, handler: H) -> Result<KafkaConsumer<H>, KafkaSourceError> {
        self.validate()?;
        let consumer: KafkaConsumer<H> = self.client_config().create_with_context(RebalanceContext { handler })?;
        let topics: Vec<&str> = self.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics)?;
        Ok(consumer)
    }
}

/// A topic partition.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.topic, self.partition)
    }
}

/// What the caller does when the group gives or takes partitions. Called on the
/// thread that polls the consumer, inside the rebalance.
pub trait PartitionHandler: Send + Sync + 'static {
    /// Partitions given to this member; returns the offset to start each at, or
    /// `None` for the group's committed offset.
    fn assigned(&self, partitions: &[TopicPartition]) -> Vec<Option<i64>>;
    /// Partitions about to be taken away: make what they produced durable and commit.
    fn revoked(&self, consumer: &BaseConsumer<RebalanceContext<Self>>, partitions: &[TopicPartition])
    where
        Self: Sized;
    /// The broker's high-water mark (next offset) per partition, from librdkafka statistics.
    fn high_watermarks(&self, _marks: &[(TopicPartition, i64)]) {}
    /// A client-level error (broker down, authentication); the client retries on its own.
    fn client_error(&self, _error: &KafkaError, _reason: &str) {}
}

/// The consumer's context: routes rebalances and statistics to the handler.
pub struct RebalanceContext<H> {
    pub handler: H,
}

pub type KafkaConsumer<H> = BaseConsumer<RebalanceContext<H>>;

impl<H: PartitionHandler> ClientContext for RebalanceContext<H> {
    fn stats(&self, statistics: Statistics) {
        let mut marks = Vec::new();
        for (topic, t) in &statistics.topics {
            for (&partition, p) in &t.partitions {
                if partition >= 0 && p.hi_offset >= 0 {
                    marks.push((TopicPartition { topic: topic.clone(), partition }, p.hi_offset));
                }
            }
        }
        self.handler.high_watermarks(&marks);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.handler.client_error(&error, reason);
    }
}

impl<H: PartitionHandler> ConsumerContext for RebalanceContext<H> {
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        let partitions: Vec<TopicPartition> = tpl
            .elements()
            .iter()
            .map(|e| TopicPartition { topic: e.topic().to_string(), partition: e.partition() })
            .collect();
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let starts = self.handler.assigned(&partitions);
                for (tp, start) in partitions.iter().zip(starts) {
                    if let Some(offset) = start {
                        let _ = tpl.set_partition_offset(&tp.topic, tp.partition, Offset::Offset(offset));
                    }
                }
                if let Err(e) = consumer.assign(tpl) {
                    tracing::error!(error = %e, "assigning partitions failed");
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                self.handler.revoked(consumer, &partitions);
                if let Err(e) = consumer.unassign() {
                    tracing::error!(error = %e, "unassigning partitions failed");
                }
            }
            other => {
                tracing::error!(error = ?other, "rebalance failed; giving up the assignment");
                let _ = consumer.unassign();
            }
        }
    }
}

/// One Kafka message, as the worker reads it.
#[derive(Debug)]
pub struct KafkaRecord<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    /// The message timestamp (create or log-append time), in unix ms.
    pub timestamp_ms: Option<i64>,
    /// The message key, else a `host` header, when it is UTF-8.
    pub host: Option<&'a str>,
    /// The value; empty for a null value.
    pub payload: &'a [u8],
}

impl<'a> KafkaRecord<'a> {
    pub fn of(message: &'a BorrowedMessage<'a>) -> Self {
        let timestamp_ms = match message.timestamp() {
            Timestamp::NotAvailable => None,
            Timestamp::CreateTime(t) | Timestamp::LogAppendTime(t) => Some(t),
        };
        let from_key = message.key().and_then(|k| std::str::from_utf8(k).ok()).filter(|k| !k.is_empty());
        let host = from_key.or_else(|| {
            let headers = message.headers()?;
            headers
                .iter()
                .find(|h| h.key == "host")
                .and_then(|h| h.value)
                .and_then(|v| std::str::from_utf8(v).ok())
                .filter(|v| !v.is_empty())
        });
        Self {
            topic: message.topic(),
            partition: message.partition(),
            offset: message.offset(),
            timestamp_ms,
            host,
            payload: message.payload().unwrap_or(&[]),
        }
    }
}

/// How long [`KafkaConsumer::poll`] waits when nothing is there; bounds how late the
/// caller notices a shutdown request or a quiet stream's clock.
pub const POLL_TIMEOUT: Duration = Duration::from_millis(100);
