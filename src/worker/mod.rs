//! `logpulse run -c logpulse.toml`: the long-running worker.
//!
//! Threads: one per source (Kafka consumer, file glob, stdin), each owning its lanes
//! (see [`lane`]) end to end; the store's compactor; and a small tokio runtime for
//! the HTTP API and signals. Data flows one way: source thread -> engine -> Parquet
//! and checkpoints -> queries.
//!
//! Shutdown (SIGTERM, SIGINT): the sources stop fetching, every lane writes its
//! closed windows and a checkpoint, Kafka sources commit, the HTTP server drains,
//! and the process exits 0. A worker whose sources are all finite (`follow = false`,
//! stdin) exits once they are read.

mod alerts;
pub mod config;
mod file;
mod kafka;
mod lane;
mod ledger;
mod live;
mod metrics;
mod notify;
mod reload;
mod sql_alerts;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use arrow::array::AsArray;
use clap::Args;
use engine::compile::Decoder;

use self::config::{LogFormat, SourceConfig};
use self::lane::Shared;
use self::live::LiveBoard;
use self::metrics::Metrics;
use crate::cli::UsageError;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The worker config (DESIGN.md, "Worker config").
    #[arg(short = 'c', long = "config")]
    config: PathBuf,
}

/// How often lanes flush closed windows and checkpoint.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub flush_interval: Duration,
    pub checkpoint_interval: Duration,
}

/// What a source tells `/healthz`.
#[derive(Debug, Default)]
pub struct SourceStatus {
    /// Shown in `/healthz` while not connected.
    name: String,
    /// Set once the source reached its input (a Kafka assignment, the file glob).
    pub connected: AtomicBool,
}

pub use crate::cli::now_ms;

/// `/healthz`, `/metrics` and `/api/rules` of this worker.
struct Status {
    sources: Vec<Arc<SourceStatus>>,
    metrics: Arc<Metrics>,
    /// The rules in force (`/api/rules`), reloads, and alerting (`/api/alerts`).
    reloader: Arc<reload::Reloader>,
}

impl queries::http::WorkerStatus for Status {
    fn health(&self) -> Result<(), String> {
        let waiting: Vec<&str> =
            self.sources.iter().filter(|s| !s.connected.load(Ordering::Relaxed)).map(|s| s.name.as_str()).collect();
        if waiting.is_empty() { Ok(()) } else { Err(format!("waiting for sources: {}", waiting.join(", "))) }
    }

    fn metrics_text(&self) -> String {
        self.metrics.text()
    }

    fn rules(&self) -> serde_json::Value {
        self.reloader.view.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn alerts(&self, state: Option<&str>) -> serde_json::Value {
        match &self.reloader.hub {
            Some(hub) => hub.states_json(state),
            None => serde_json::json!({
                "alerts": [],
                "evaluated_here": false,
                "message": "another worker of this data dir evaluates the alerts",
            }),
        }
    }

    fn reload(&self) -> Result<serde_json::Value, String> {
        self.reloader.reload("POST /api/reload")
    }
}

/// The rule set as `/api/rules` shows it; `version` changes whenever a definition does.
fn rules_json(set: &engine::RuleSet) -> serde_json::Value {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for rule in &set.rules {
        rule.definition.hash(&mut hasher);
    }
    let streams: Vec<_> = set
        .streams
        .iter()
        .map(|s| serde_json::json!({ "name": s.name, "format": s.format.as_str(), "lateness_ms": s.lateness_ms }))
        .collect();
    let rules: Vec<_> = set
        .rules
        .iter()
        .map(|r| {
            serde_json::json!({
                "name": r.name,
                "stream": set.streams[r.stream].name,
                "window_ms": r.window.width_ms,
                "slide_ms": r.window.slide_ms,
                "value": r.value_label,
                "group_by": r.key_parts.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>(),
                "definition": r.definition,
            })
        })
        .collect();
    let alerts: Vec<_> = set
        .alerts
        .iter()
        .map(|a| {
            let view = match a.view {
                engine::compile::AlertView::Machine => "machine",
                engine::compile::AlertView::Sum => "sum",
                engine::compile::AlertView::Avg => "avg",
            };
            let rule = a.kind.rule().map(|r| set.rules[r].name.as_str());
            serde_json::json!({ "name": a.name, "rule": rule, "view": view, "severity": a.severity })
        })
        .collect();
    serde_json::json!({ "version": format!("{:016x}", hasher.finish()), "streams": streams, "rules": rules, "alerts": alerts })
}

fn init_logging(config: &config::LogConfig) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(config.level.as_deref().unwrap_or("info,rdkafka=warn")));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match config.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let loaded = Arc::new(config::load(&args.config)?);
    init_logging(&loaded.config.log);
    let rules = Arc::new(crate::rules::load(&loaded.rule_globs)?);
    config::check_streams(&loaded, &rules)?;
    check_sources(&loaded, &rules)?;

    let data_dir = &loaded.data_dir;
    let store = loaded
        .config
        .storage
        .clone()
        .build(data_dir)
        .map_err(|e| UsageError(format!("cannot use {} as a data dir: {e}", data_dir.display())))?;
    let store = Arc::new(store);
    let checkpoints = sinks::CheckpointStore::open(data_dir)?;
    let metrics = Arc::new(Metrics::new());
    let live = Arc::new(LiveBoard::default());
    let notifier_configs: Vec<config::NotifierConfig> =
        loaded.config.notifiers.iter().map(|n| n.get_ref().clone()).collect();
    // One worker of a data dir evaluates and notifies alerts (see `alerts`): the rest
    // of a group sharing the dir counts and stores only.
    let alert_owner = alerts::AlertOwner::try_acquire(checkpoints.dir())?;
    let mut notifier_names: Vec<String> =
        std::iter::once("log".to_string()).chain(notifier_configs.iter().map(|n| n.name.clone())).collect();
    notifier_names.sort();
    notifier_names.dedup();
    check_notifiers(&rules, &notifier_names, &loaded.file.path)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("logpulse-http")
        .enable_all()
        .build()?;
    let hub = match &alert_owner {
        Some(_) => {
            let ledger = Arc::new(ledger::Ledger::open(checkpoints.dir())?);
            let dead_letters: notify::DeadLetters = {
                let (store, metrics) = (Arc::clone(&store), Arc::clone(&metrics));
                Arc::new(move |notifier: &str, note: &engine::alert::Notification, error: &str| {
                    alerts::write_dead_letter(&store, &metrics, notifier, note, error)
                })
            };
            let notifiers = notify::Notifiers::start(&notifier_configs, &metrics, Arc::clone(&ledger), dead_letters)?;
            let hub = start_alerts(
                alerts::HubStart {
                    rules: Arc::clone(&rules),
                    notifiers,
                    ledger,
                    store: Arc::clone(&store),
                    metrics: Arc::clone(&metrics),
                    checkpoint_dir: checkpoints.dir().to_path_buf(),
                    checkpoint_every: *loaded.config.checkpoint_interval.get_ref(),
                },
                &runtime,
                data_dir,
                &loaded.config.query,
            )?;
            Some(hub)
        }
        None => {
            tracing::warn!(
                data_dir = %data_dir.display(),
                "another worker of this data dir evaluates the alerts (it holds checkpoints/alerts.lock); \
                 this one counts and stores, and evaluates no alerts"
            );
            None
        }
    };
    let shared = Arc::new(Shared::new(
        Arc::clone(&rules),
        Arc::clone(&store),
        checkpoints,
        Arc::clone(&metrics),
        Arc::clone(&live),
        crate::cli::machine_hostname(),
        hub.clone(),
    ));
    let _compactor = store.spawn_compactor(*loaded.config.compact_interval.get_ref());
    let queries = Arc::new(queries::QueryService::new(data_dir, loaded.config.query.clone())?.with_live(live));
    runtime.block_on(sql_alerts::check(&rules, &queries)).map_err(UsageError)?;
    let reloader = Arc::new(reload::Reloader {
        loaded: Arc::clone(&loaded),
        shared: Arc::clone(&shared),
        hub: hub.clone(),
        metrics: Arc::clone(&metrics),
        notifier_names,
        queries: Arc::clone(&queries),
        runtime: runtime.handle().clone(),
        view: std::sync::RwLock::new(rules_json(&rules)),
        sql_tasks: std::sync::Mutex::new(Vec::new()),
        busy: std::sync::Mutex::new(()),
    });
    let timing = Timing {
        flush_interval: *loaded.config.flush_interval.get_ref(),
        checkpoint_interval: *loaded.config.checkpoint_interval.get_ref(),
    };

    let listen = loaded.config.http.listen.get_ref().clone();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(&listen))
        .map_err(|e| UsageError(format!("cannot listen on {listen}: {e}")))?;
    let address = listener.local_addr()?;

    let stop = Arc::new(AtomicBool::new(false));
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<(String, anyhow::Result<()>)>();
    let mut statuses = Vec::new();
    let mut threads = Vec::new();
    for (index, source) in loaded.config.sources.iter().enumerate() {
        let source = source.get_ref().clone();
        let stream = source.stream().to_string();
        let name = match &source {
            SourceConfig::Kafka(k) => format!("kafka {}", k.topics.join(",")),
            SourceConfig::File(f) => format!("file {}", f.path),
            SourceConfig::Stdin(_) => "stdin".to_string(),
        };
        let status = Arc::new(SourceStatus { name: name.clone(), connected: AtomicBool::new(false) });
        statuses.push(Arc::clone(&status));
        let (shared, stop, done) = (Arc::clone(&shared), Arc::clone(&stop), done_tx.clone());
        let pattern = match &source {
            SourceConfig::File(f) => loaded.resolve(&f.path),
            _ => String::new(),
        };
        let thread = std::thread::Builder::new().name(format!("source-{index}")).spawn(move || {
            let result = match source {
                SourceConfig::Kafka(k) => kafka::run(shared, k, stream, timing, status, stop),
                SourceConfig::File(f) => file::run(shared, f, pattern, stream, timing, status, stop),
                SourceConfig::Stdin(s) => file::run_stdin(shared, s, stream, timing, status, stop),
            };
            let _ = done.send((name, result));
        })?;
        threads.push(thread);
    }
    drop(done_tx);

    reloader.restart_sql_alerts();
    let _watch = Arc::clone(&reloader).watch(Arc::clone(&stop))?;
    let status = Arc::new(Status { sources: statuses, metrics, reloader: Arc::clone(&reloader) });
    let app = queries::http::router(queries, status, loaded.config.http.token.as_deref());
    eprintln!("logpulse: listening on http://{address}");
    tracing::info!(%address, data_dir = %data_dir.display(), sources = threads.len(), "worker started");

    let sources = threads.len();
    let failure = runtime.block_on(async {
        let mut failure: Option<String> = None;
        let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = http_stopped.await;
                })
                .await
        });
        let mut remaining = sources;
        let mut finished_all = false;
        let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .expect("installing a SIGHUP handler");
        loop {
            tokio::select! {
                _ = hangups.recv() => {
                    let reloader = Arc::clone(&reloader);
                    tokio::task::spawn_blocking(move || reloader.reload("SIGHUP"));
                }
                signal = terminate() => {
                    tracing::info!(signal, "shutting down");
                    break;
                }
                done = done_rx.recv(), if remaining > 0 => {
                    let Some((name, result)) = done else { break };
                    remaining -= 1;
                    if let Err(e) = result {
                        tracing::error!(source = %name, error = format!("{e:#}"), "source failed; stopping");
                        failure = Some(format!("{name}: {e:#}"));
                        break;
                    }
                    if remaining == 0 {
                        finished_all = true;
                        break;
                    }
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        while remaining > 0 && !finished_all {
            match done_rx.recv().await {
                Some((name, Err(e))) => {
                    tracing::error!(source = %name, error = format!("{e:#}"), "source failed while stopping");
                    failure.get_or_insert(format!("{name}: {e:#}"));
                }
                Some(_) => {}
                None => break,
            }
            remaining -= 1;
        }
        let _ = stop_http.send(());
        let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
        failure
    });
    for thread in threads {
        let _ = thread.join();
    }
    // The sources are done, and the SQL alerts stop: no notification comes after
    // this. Queued ones get a moment.
    reloader.stop_sql_alerts();
    if let Some(hub) = &hub {
        hub.close(Duration::from_secs(10));
    }
    drop(alert_owner);
    runtime.shutdown_timeout(Duration::from_secs(1));
    match failure {
        Some(e) => Err(anyhow::anyhow!(e)).context("worker stopped"),
        None => {
            tracing::info!("stopped cleanly");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Every source on a stream the rules define, and no Qalarm stream read from a file.
fn check_sources(loaded: &config::LoadedConfig, rules: &engine::RuleSet) -> Result<(), engine::RuleErrors> {
    for source in &loaded.config.sources {
        let Some(stream) = rules.streams.iter().find(|s| s.name == source.get_ref().stream()) else { continue };
        if !matches!(source.get_ref(), SourceConfig::Kafka(_)) && matches!(stream.decoder, Decoder::Qalarm) {
            let message = "Qalarm streams are read from Kafka (for a file, use `logpulse replay`)";
            return Err(engine::RuleErrors::from(loaded.file.error_in(source.span(), message)));
        }
    }
    Ok(())
}

/// Every name an alert notifies is a notifier.
fn check_notifiers(rules: &engine::RuleSet, known: &[String], config_path: &str) -> Result<(), UsageError> {
    for alert in &rules.alerts {
        if let Some(unknown) = alert.notify.iter().find(|n| !known.contains(n)) {
            return Err(UsageError(format!(
                "alert '{}' notifies '{unknown}', which no [[notifier]] in {config_path} names (known: {})",
                alert.name,
                known.join(", ")
            )));
        }
    }
    Ok(())
}

/// Starts alerting, from the alert checkpoint if there is one: the `aggregates` rows
/// written after it are read back (see [`alerts`]).
fn start_alerts(
    start: alerts::HubStart,
    runtime: &tokio::runtime::Runtime,
    data_dir: &std::path::Path,
    query: &queries::QueryConfig,
) -> anyhow::Result<Arc<alerts::AlertHub>> {
    let checkpoint = alerts::AlertCheckpoint::load(&start.checkpoint_dir)?;
    let evaluator = alerts::AlertHub::restored_evaluator(&start.rules, checkpoint.as_ref());
    let plan = alerts::RecoveryQueries::new(&start.rules, &evaluator, checkpoint.as_ref());
    // Its own limits: a restart reads what it needs, however much that is.
    let config =
        queries::QueryConfig { timeout: Duration::from_secs(3600), max_result_bytes: usize::MAX, ..query.clone() };
    let service = queries::QueryService::new(data_dir, config)?;
    let mut marks = Vec::new();
    if let Some(sql) = &plan.marks {
        let result = runtime.block_on(service.sql(sql)).context("reading where new alerts start")?;
        for batch in &result.batches {
            let names = arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Utf8)?;
            let names = names.as_string::<i32>();
            let ends = batch.column(1).as_primitive::<arrow::datatypes::Int64Type>();
            marks.extend((0..batch.num_rows()).map(|i| (names.value(i).to_string(), ends.value(i))));
        }
    }
    let mut recovered = Vec::new();
    if let Some(sql) = &plan.rows {
        let result =
            runtime.block_on(service.sql(sql)).context("reading back the windows after the alert checkpoint")?;
        tracing::info!(rows = result.num_rows(), "alert state restored; windows after it read back");
        recovered = result.batches;
    }
    let outbox = checkpoint.map(|c| c.outbox).unwrap_or_default();
    Ok(Arc::new(alerts::AlertHub::start(start, evaluator, &marks, &recovered, outbox)?))
}

/// Resolves on SIGTERM or SIGINT, with the signal's name.
async fn terminate() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("installing a SIGINT handler");
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
