//! Notifiers: where alert notifications go (`[[notifier]]`; `log` always exists).
//!
//! Each configured notifier has its own thread and a bounded queue. Sending never
//! blocks the caller (the lanes' flush): a full queue drops the notification and
//! counts it (`logpulse_notifications_total{outcome="dropped"}`), so a slow or dead
//! webhook delays only its own deliveries. A webhook delivery is retried with
//! exponential backoff up to `max_attempts`, each attempt bounded by `timeout`;
//! then it is given up (`outcome="dead_letter"`: logged, and written to the `alerts`
//! table with state `undelivered`).
//!
//! Every notification goes through the [`Ledger`] first: one that a notifier already
//! finished (a restart re-made it) is not sent again (`outcome="duplicate"`), and a
//! notifier records each one it finishes before taking the next.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use engine::alert::Notification;
use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use super::config::NotifierConfig;
use super::ledger::{Ledger, OutboxEntry};
use super::metrics::Metrics;
use crate::kafka_producer::Deliveries;

/// Notifications waiting per notifier before new ones are dropped.
const QUEUE: usize = 10_000;
/// First retry delay of a webhook; doubled each attempt, at most [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Records a notification a notifier gave up on: `(notifier, notification, error)`.
pub type DeadLetters = Arc<dyn Fn(&str, &Notification, &str) + Send + Sync>;

/// The running notifiers, by name.
pub struct Notifiers {
    queues: BTreeMap<String, SyncSender<Notification>>,
    /// Configured notifiers of kind `log` (besides the built-in `log`).
    log_names: BTreeSet<String>,
    threads: Vec<JoinHandle<()>>,
    /// What has been finished and what is owed (exactly-once across restarts).
    ledger: Arc<Ledger>,
    dead_letters: DeadLetters,
    metrics: Arc<Metrics>,
}

/// How a notifier delivers one notification.
enum Delivery {
    Webhook { agent: ureq::Agent, url: String, max_attempts: u32 },
    Kafka { producer: BaseProducer<Deliveries>, topic: String, msgpack: bool },
}

impl Notifiers {
    /// Starts a thread per configured notifier.
    pub fn start(
        configs: &[NotifierConfig],
        metrics: &Arc<Metrics>,
        ledger: Arc<Ledger>,
        dead_letters: DeadLetters,
    ) -> anyhow::Result<Self> {
        let mut queues = BTreeMap::new();
        let mut log_names = BTreeSet::new();
        let mut threads = Vec::new();
        for config in configs {
            let delivery = match config.kind.as_str() {
                "webhook" => Delivery::Webhook {
                    // Every phase but name resolution is bounded by `timeout`: with a
                    // resolve timeout, ureq resolves on a new thread for every request
                    // (even for an IP address), which was most of a delivery's cost here.
                    agent: ureq::Agent::config_builder()
                        .timeout_connect(Some(config.timeout()?))
                        .timeout_send_request(Some(config.timeout()?))
                        .timeout_send_body(Some(config.timeout()?))
                        .timeout_recv_response(Some(config.timeout()?))
                        .timeout_recv_body(Some(config.timeout()?))
                        .http_status_as_error(false)
                        .build()
                        .into(),
                    url: config.url.clone().context("a webhook notifier needs `url`")?,
                    max_attempts: config.max_attempts.unwrap_or(5).max(1),
                },
                "kafka" => Delivery::Kafka {
                    producer: ClientConfig::new()
                        .set(
                            "bootstrap.servers",
                            config.brokers.as_deref().context("a kafka notifier needs `brokers`")?,
                        )
                        .set("message.timeout.ms", config.timeout()?.as_millis().to_string())
                        .create_with_context(Deliveries::default())
                        .with_context(|| format!("notifier '{}'", config.name))?,
                    topic: config.topic.clone().context("a kafka notifier needs `topic`")?,
                    msgpack: config.format.as_deref() == Some("msgpack"),
                },
                // `log` needs no thread.
                _ => {
                    log_names.insert(config.name.clone());
                    continue;
                }
            };
            let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
            let (name, metrics) = (config.name.clone(), Arc::clone(metrics));
            let (ledger, dead_letters) = (Arc::clone(&ledger), Arc::clone(&dead_letters));
            let thread = std::thread::Builder::new()
                .name(format!("notify-{name}"))
                .spawn(move || deliver_all(&name, delivery, rx, &metrics, &ledger, &dead_letters))?;
            queues.insert(config.name.clone(), tx);
            threads.push(thread);
        }
        Ok(Self { queues, log_names, threads, ledger, dead_letters, metrics: Arc::clone(metrics) })
    }

    /// Hands notifications to each of their notifiers, in order, without waiting.
    pub fn send_all(&self, notes: &[Notification]) {
        let admitted = self.admit_all(notes);
        self.dispatch(&admitted);
    }

    /// First half of [`Notifiers::send_all`]: takes each (notifier, notification) into
    /// the ledger (so that it is in the next outbox) unless it is a re-made duplicate,
    /// and hands nothing on yet. For a caller that must checkpoint between the two.
    pub fn admit_all<'a>(&self, notes: &'a [Notification]) -> Vec<(&'a str, &'a Notification)> {
        let mut admitted = Vec::new();
        for note in notes {
            for target in &note.notify {
                if self.admit(target, note) {
                    admitted.push((target.as_str(), note));
                }
            }
        }
        admitted
    }

    /// Second half of [`Notifiers::send_all`]: hands admitted notifications on.
    pub fn dispatch(&self, admitted: &[(&str, &Notification)]) {
        let mut logged: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for &(target, note) in admitted {
            self.dispatch_one(target, note, &mut logged);
        }
        self.finish_logged(logged);
    }

    /// Queues again what a checkpoint's outbox says is owed.
    pub fn resend(&self, owed: Vec<OutboxEntry>) {
        let owed: Vec<(String, Notification)> = owed
            .into_iter()
            .map(|e| {
                let mut note = e.notification;
                note.window_start_ms = e.window_start_ms;
                note.window_end_ms = e.window_end_ms;
                (e.notifier, note)
            })
            .collect();
        if !owed.is_empty() {
            tracing::info!(notifications = owed.len(), "sending what the last alert checkpoint owed");
        }
        let admitted: Vec<(&str, &Notification)> =
            owed.iter().filter(|(target, note)| self.admit(target, note)).map(|(t, n)| (t.as_str(), n)).collect();
        self.dispatch(&admitted);
    }

    /// Whether `note` is for a known notifier and new to the ledger (then it is in
    /// flight from now on).
    fn admit(&self, target: &str, note: &Notification) -> bool {
        if target != "log" && !self.log_names.contains(target) && !self.queues.contains_key(target) {
            // The alerts' `notify` names are checked at start; an outbox may name a
            // notifier that is no longer configured.
            tracing::warn!(notifier = target, id = %note.id, "no such notifier any more; notification dropped");
            return false;
        }
        if !self.ledger.admit(target, note) {
            self.metrics.notified(target, "duplicate");
            return false;
        }
        true
    }

    fn dispatch_one<'a>(&self, target: &'a str, note: &'a Notification, logged: &mut BTreeMap<&'a str, Vec<&'a str>>) {
        if target == "log" || self.log_names.contains(target) {
            log(note);
            logged.entry(target).or_default().push(&note.id);
            return;
        }
        let queue = &self.queues[target];
        let failure = match queue.try_send(note.clone()) {
            Ok(()) => return,
            Err(TrySendError::Full(_)) => "the notifier's queue is full",
            Err(TrySendError::Disconnected(_)) => "the notifier has stopped",
        };
        tracing::error!(notifier = %target, id = %note.id, "{failure}; notification dropped");
        (self.dead_letters)(target, note, failure);
        self.ledger.finish(target, &[&note.id]);
        self.metrics.notified(target, "dropped");
    }

    fn finish_logged(&self, logged: BTreeMap<&str, Vec<&str>>) {
        for (target, ids) in logged {
            self.ledger.finish(target, &ids);
            for _ in &ids {
                self.metrics.notified(target, "sent");
            }
        }
    }

    /// Stops taking notifications and gives the queued ones until `deadline` to go out.
    pub fn close(self, deadline: Duration) {
        drop(self.queues);
        let until = Instant::now() + deadline;
        for thread in self.threads {
            while !thread.is_finished() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(20));
            }
            if thread.is_finished() {
                let _ = thread.join();
            } else {
                tracing::warn!("a notifier still had deliveries pending at shutdown");
            }
        }
    }
}

fn log(note: &Notification) {
    tracing::warn!(
        id = %note.id,
        alert = %note.alert,
        state = note.state.as_str(),
        severity = %note.severity,
        value = ?note.value,
        "{}",
        note.message
    );
}

/// A notifier's thread: delivers its queue in order until the queue closes.
fn deliver_all(
    name: &str,
    delivery: Delivery,
    queue: Receiver<Notification>,
    metrics: &Metrics,
    ledger: &Ledger,
    dead_letters: &DeadLetters,
) {
    for note in queue {
        let outcome = match &delivery {
            Delivery::Webhook { agent, url, max_attempts } => post_with_retries(agent, url, &note, *max_attempts),
            Delivery::Kafka { producer, topic, msgpack } => send_to_kafka(producer, topic, &note, *msgpack),
        };
        match outcome {
            Ok(()) => metrics.notified(name, "sent"),
            Err(e) => {
                tracing::error!(notifier = name, id = %note.id, message = %note.message, error = %e, "notification given up (dead letter)");
                dead_letters(name, &note, &e);
                metrics.notified(name, "dead_letter");
            }
        }
        ledger.finish(name, &[&note.id]);
    }
    if let Delivery::Kafka { producer, .. } = &delivery {
        let _ = producer.flush(Duration::from_secs(5));
    }
}

/// POSTs the notification's JSON until a 2xx, with exponential backoff.
fn post_with_retries(agent: &ureq::Agent, url: &str, note: &Notification, max_attempts: u32) -> Result<(), String> {
    let body = serde_json::to_string(note).expect("a notification serializes");
    let mut backoff = FIRST_BACKOFF;
    let mut last_error = String::new();
    for attempt in 1..=max_attempts {
        let result =
            agent.post(url).header("content-type", "application/json").header("idempotency-key", &note.id).send(&body);
        match result {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) => last_error = format!("HTTP {}", response.status()),
            Err(e) => last_error = e.to_string(),
        }
        if attempt < max_attempts {
            tracing::warn!(url, id = %note.id, attempt, error = %last_error, "webhook failed; retrying");
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
    Err(format!("{max_attempts} attempts, last: {last_error}"))
}

fn send_to_kafka(
    producer: &BaseProducer<Deliveries>,
    topic: &str,
    note: &Notification,
    msgpack: bool,
) -> Result<(), String> {
    let payload = if msgpack {
        rmp_serde::to_vec_named(note).map_err(|e| e.to_string())?
    } else {
        serde_json::to_vec(note).map_err(|e| e.to_string())?
    };
    producer.send(BaseRecord::to(topic).key(&note.id).payload(&payload)).map_err(|(e, _)| e.to_string())?;
    // Delivery reports come through polling (flush polls): flushing per notification
    // tells this one's outcome, at the rates alerts have.
    let failed_before = producer.context().failed.load(std::sync::atomic::Ordering::Relaxed);
    producer.flush(Duration::from_secs(60)).map_err(|e| e.to_string())?;
    if producer.context().failed.load(std::sync::atomic::Ordering::Relaxed) > failed_before {
        let error = producer.context().first_error.lock().unwrap_or_else(|p| p.into_inner()).take();
        return Err(error.unwrap_or_else(|| "delivery failed".to_string()));
    }
    Ok(())
}
