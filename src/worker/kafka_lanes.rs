//! A Kafka source: one consumer-group member, one lane per assigned partition.
//!
//! Everything runs on the source's own thread: polling, decoding, the engines,
//! Parquet writes and checkpoints. A slow write therefore stops the polling, and
//! librdkafka's prefetch queue is bounded (`queued.max.messages.kbytes`): that is
//! the backpressure, and memory stays bounded.
//!
//! Rebalances call back into [`KafkaLanes`] from inside `poll` on this same thread:
//! an assigned partition opens its lane at its checkpoint and the consumer is told
//! to start there; a revoked one is checkpointed and committed before it goes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::sources::kafka::{
    KafkaConsumer, KafkaRecord, KafkaSourceConfig, POLL_TIMEOUT, PartitionHandler, RebalanceContext, TopicPartition,
};
use rdkafka::Offset;
use rdkafka::TopicPartitionList;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};

use super::lane::{Lane, Origin, Record, Shared, Timing};
use super::status::SourceStatus;
use crate::machine::now_ms;

/// The lanes of one Kafka source, shared with its rebalance callbacks.
pub struct KafkaLanes {
    shared: Arc<Shared>,
    /// The stream's name: lanes resolve it in the rules in force when they open.
    stream: String,
    /// For metrics labels.
    name: String,
    state: Mutex<LanesState>,
    status: Arc<SourceStatus>,
}

#[derive(Default)]
struct LanesState {
    lanes: BTreeMap<TopicPartition, Lane>,
    /// Set when a lane could not be opened (unreadable checkpoint): the worker stops
    /// rather than recount or skip that partition.
    fatal: Option<String>,
}

fn producer_of(tp: &TopicPartition) -> String {
    format!("kafka-{}-{}", tp.topic, tp.partition)
}

impl KafkaLanes {
    fn state(&self) -> MutexGuard<'_, LanesState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes the given lanes durable (checkpoint) and commits their positions.
    fn checkpoint_and_commit(
        &self,
        consumer: &BaseConsumer<RebalanceContext<Self>>,
        which: Option<&[TopicPartition]>,
        mode: CommitMode,
    ) -> anyhow::Result<()> {
        let mut state = self.state();
        let mut offsets = TopicPartitionList::new();
        let now = now_ms();
        for (tp, lane) in state.lanes.iter_mut() {
            if which.is_some_and(|w| !w.contains(tp)) {
                continue;
            }
            lane.checkpoint(&self.shared, Some(now), now)?;
            offsets.add_partition_offset(&tp.topic, tp.partition, Offset::Offset(lane.position))?;
        }
        drop(state);
        if offsets.count() > 0 {
            consumer.commit(&offsets, mode)?;
            self.shared.metrics.committed(now as f64 / 1000.0);
        }
        Ok(())
    }
}

impl PartitionHandler for KafkaLanes {
    fn assigned(&self, partitions: &[TopicPartition]) -> Vec<Option<i64>> {
        // Another member sharing the data dir may have written for these partitions.
        if let Err(e) = self.shared.store.refresh() {
            tracing::error!(error = %e, "re-reading the data dir's high-water marks failed");
        }
        let mut state = self.state();
        let now = now_ms();
        let mut starts = Vec::new();
        for tp in partitions {
            match Lane::open(&self.shared, producer_of(tp), &self.stream, now) {
                Ok(lane) => {
                    let start = lane.restored.then_some(lane.position);
                    tracing::info!(partition = %tp, start = ?start, "partition assigned");
                    starts.push(start);
                    state.lanes.insert(tp.clone(), lane);
                }
                Err(e) => {
                    tracing::error!(partition = %tp, error = format!("{e:#}"), "cannot open partition");
                    state.fatal.get_or_insert(format!("partition {tp}: {e:#}"));
                    starts.push(None);
                }
            }
        }
        self.shared.metrics.lanes(&self.name, state.lanes.len());
        self.status.connected.store(true, Ordering::Relaxed);
        starts
    }

    fn revoked(&self, consumer: &BaseConsumer<RebalanceContext<Self>>, partitions: &[TopicPartition]) {
        if let Err(e) = self.checkpoint_and_commit(consumer, Some(partitions), CommitMode::Sync) {
            // The next owner restarts from the last good checkpoint: nothing is lost.
            tracing::error!(error = format!("{e:#}"), "checkpoint on revoke failed");
            self.shared.metrics.failure("checkpoint");
        }
        let mut state = self.state();
        for tp in partitions {
            if let Some(lane) = state.lanes.remove(tp) {
                self.shared.live.remove(&lane.producer);
                if let Some(hub) = &self.shared.alerts {
                    hub.lane_gone(&lane.producer);
                }
                self.shared.metrics.lane_gone(&lane.producer, Some((&tp.topic, tp.partition)));
                tracing::info!(partition = %tp, position = lane.position, "partition revoked");
            }
        }
        self.shared.metrics.lanes(&self.name, state.lanes.len());
    }

    fn high_watermarks(&self, marks: &[(TopicPartition, i64)]) {
        let state = self.state();
        for (tp, high) in marks {
            if let Some(lane) = state.lanes.get(tp) {
                self.shared.metrics.lag(&tp.topic, tp.partition, high - lane.position);
            }
        }
    }

    fn client_error(&self, error: &rdkafka::error::KafkaError, reason: &str) {
        tracing::warn!(source = %self.name, %error, reason, "kafka client error (it retries on its own)");
    }
}

/// Runs a Kafka source until `stop` is set; checkpoints and commits before returning.
pub fn run(
    shared: Arc<Shared>,
    config: KafkaSourceConfig,
    stream: String,
    timing: Timing,
    status: Arc<SourceStatus>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let name = format!("kafka:{}", config.topics.join(","));
    let handler = KafkaLanes {
        shared: Arc::clone(&shared),
        stream,
        name: name.clone(),
        state: Mutex::new(LanesState::default()),
        status: Arc::clone(&status),
    };
    let consumer: KafkaConsumer<KafkaLanes> = config.build(handler)?;
    let lanes = &consumer.context().handler;
    let mut next_flush = Instant::now() + timing.flush_interval;
    let mut next_checkpoint = Instant::now() + timing.checkpoint_interval;
    let (mut messages, mut bytes) = (0u64, 0u64);

    // Messages came since the lanes last closed what was due. When the queue runs dry
    // (a zero-timeout poll finds nothing) the lanes close their due windows at once,
    // so alerts need not wait for the flush tick; under a steady backlog the tick does it.
    let mut unsettled = false;
    while !stop.load(Ordering::Relaxed) {
        let timeout = if unsettled { Duration::ZERO } else { POLL_TIMEOUT };
        let polled = consumer.poll(timeout);
        if polled.is_none() && unsettled {
            unsettled = false;
            let wall = now_ms();
            lanes.state().lanes.values_mut().for_each(|lane| lane.close_due(&shared, wall));
        }
        if let Some(message) = polled {
            unsettled = true;
            match message {
                Ok(message) => {
                    let record = KafkaRecord::of(&message);
                    messages += 1;
                    bytes += record.payload.len() as u64;
                    let tp = TopicPartition { topic: record.topic.to_string(), partition: record.partition };
                    let mut state = lanes.state();
                    // Below the lane's position: already counted before the checkpoint.
                    if let Some(lane) = state.lanes.get_mut(&tp).filter(|l| record.offset >= l.position) {
                        let input = Record {
                            origin: Origin::Kafka {
                                topic: record.topic,
                                partition: record.partition,
                                offset: record.offset,
                            },
                            position: record.offset,
                            next_position: record.offset + 1,
                            payload: record.payload,
                            host: record.host,
                            time_ms: record.timestamp_ms,
                        };
                        lane.process(&shared, &input, now_ms());
                    }
                }
                Err(e) => {
                    tracing::warn!(source = %name, error = %e, "kafka poll error");
                }
            }
        }
        let now = Instant::now();
        if now >= next_flush {
            let mut state = lanes.state();
            if let Some(fatal) = state.fatal.take() {
                anyhow::bail!("{fatal}");
            }
            shared.metrics.read(&name, std::mem::take(&mut messages), std::mem::take(&mut bytes));
            let wall = now_ms();
            state.lanes.values_mut().for_each(|lane| lane.tick(&shared, wall));
            next_flush = now + timing.flush_interval;
        }
        if now >= next_checkpoint {
            if let Err(e) = lanes.checkpoint_and_commit(&consumer, None, CommitMode::Async) {
                tracing::error!(source = %name, error = format!("{e:#}"), "checkpoint failed; retrying");
                shared.metrics.failure("checkpoint");
                // Backpressure: no more reading until the sink takes writes again.
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
            next_checkpoint = now + timing.checkpoint_interval;
        }
    }
    tracing::info!(source = %name, "stopping: final checkpoint and commit");
    shared.metrics.read(&name, messages, bytes);
    lanes.checkpoint_and_commit(&consumer, None, CommitMode::Sync)?;
    // Leaving the group revokes the partitions; their lanes are durable already.
    consumer.unsubscribe();
    drop(consumer);
    Ok(())
}
