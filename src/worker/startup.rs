//! Start-up of `logpulse run`: the config and rules are read and checked, the store,
//! checkpoints, alerting and the query service opened, the HTTP listener bound, and
//! one thread started per source. Everything that can be refused is refused here,
//! before the worker takes any input (exit 2 for a bad config or rule set).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::thread::JoinHandle;

use tokio::sync::mpsc::UnboundedReceiver;

use super::alerts::{self, AlertHub, AlertOwner};
use super::checks;
use super::config::{self, LogFormat, SourceConfig};
use super::lane::{Shared, Timing};
use super::ledger::Ledger;
use super::live::LiveBoard;
use super::metrics::Metrics;
use super::notify::{self, Notifiers};
use super::reload::{self, Reloader};
use super::status::{SourceStatus, Status};
use super::{file_lanes, kafka_lanes, sql_alerts};
use crate::error::UsageError;

/// How a source thread ended: its name, and its error if it failed.
pub type SourceDone = (String, anyhow::Result<()>);

/// A worker that has started: its sources run, its HTTP listener is bound but not served yet.
pub struct Started {
    /// Runs the HTTP API, signals, SQL alerts and reloads.
    pub runtime: tokio::runtime::Runtime,
    /// Bound at start-up, so that a taken port is refused before any input is read.
    pub listener: tokio::net::TcpListener,
    /// The HTTP API's routes.
    pub app: axum::Router,
    /// Reloads on SIGHUP; stops the SQL alerts at shutdown.
    pub reloader: Arc<Reloader>,
    /// Set at shutdown: the source threads stop fetching and drain.
    pub stop: Arc<AtomicBool>,
    /// One message per source thread when it ends.
    pub done: UnboundedReceiver<SourceDone>,
    /// The source threads, joined at shutdown.
    pub threads: Vec<JoinHandle<()>>,
    /// Alerting, when this worker evaluates the alerts; closed after the sources.
    pub hub: Option<Arc<AlertHub>>,
    /// Held while this worker evaluates the data dir's alerts; released after the hub closes.
    pub alert_owner: Option<AlertOwner>,
    /// Compacts the store's hour folders until dropped, last.
    pub compactor: sinks::parquet::Compactor,
    /// Watches the rule files for edits until `stop`.
    pub rule_watch: JoinHandle<()>,
}

/// Starts the worker of the config at `config_path`.
pub fn start(config_path: &Path) -> anyhow::Result<Started> {
    let loaded = Arc::new(config::load(config_path)?);
    init_logging(&loaded.config.log);
    let rules = Arc::new(crate::rules::load(&loaded.rule_globs)?);
    checks::streams(&loaded, &rules)?;
    checks::sources(&loaded, &rules)?;

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
    let alert_owner = AlertOwner::try_acquire(checkpoints.dir())?;
    let mut notifier_names: Vec<String> =
        std::iter::once("log".to_string()).chain(notifier_configs.iter().map(|n| n.name.clone())).collect();
    notifier_names.sort();
    notifier_names.dedup();
    checks::notifiers(&rules, &notifier_names, &loaded.file.path)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("logpulse-http")
        .enable_all()
        .build()?;
    let hub = match &alert_owner {
        Some(_) => {
            let ledger = Arc::new(Ledger::open(checkpoints.dir())?);
            let dead_letters: notify::DeadLetters = {
                let (store, metrics) = (Arc::clone(&store), Arc::clone(&metrics));
                Arc::new(move |notifier: &str, note: &engine::alert::Notification, error: &str| {
                    alerts::write_dead_letter(&store, &metrics, notifier, note, error)
                })
            };
            let notifiers = Notifiers::start(&notifier_configs, &metrics, Arc::clone(&ledger), dead_letters)?;
            let hub = alerts::start(
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
        crate::machine::hostname(),
        hub.clone(),
    ));
    let compactor = store.spawn_compactor(*loaded.config.compact_interval.get_ref());
    let queries = Arc::new(queries::QueryService::new(data_dir, loaded.config.query.clone())?.with_live(live));
    runtime.block_on(sql_alerts::check(&rules, &queries)).map_err(UsageError)?;
    let reloader = Arc::new(Reloader {
        loaded: Arc::clone(&loaded),
        shared: Arc::clone(&shared),
        hub: hub.clone(),
        metrics: Arc::clone(&metrics),
        notifier_names,
        queries: Arc::clone(&queries),
        runtime: runtime.handle().clone(),
        view: std::sync::RwLock::new(reload::rules_json(&rules)),
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
    let (done_tx, done) = tokio::sync::mpsc::unbounded_channel::<SourceDone>();
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
        let status = Arc::new(SourceStatus::new(name.clone()));
        statuses.push(Arc::clone(&status));
        let (shared, stop, done) = (Arc::clone(&shared), Arc::clone(&stop), done_tx.clone());
        let pattern = match &source {
            SourceConfig::File(f) => loaded.resolve(&f.path),
            _ => String::new(),
        };
        let thread = std::thread::Builder::new().name(format!("source-{index}")).spawn(move || {
            let result = match source {
                SourceConfig::Kafka(k) => kafka_lanes::run(shared, k, stream, timing, status, stop),
                SourceConfig::File(f) => file_lanes::run(shared, f, pattern, stream, timing, status, stop),
                SourceConfig::Stdin(s) => file_lanes::run_stdin(shared, s, stream, timing, status, stop),
            };
            let _ = done.send((name, result));
        })?;
        threads.push(thread);
    }
    drop(done_tx);

    reloader.restart_sql_alerts();
    let rule_watch = Arc::clone(&reloader).watch(Arc::clone(&stop))?;
    let status = Arc::new(Status { sources: statuses, metrics, reloader: Arc::clone(&reloader) });
    let app = queries::http::router(queries, status, loaded.config.http.token.as_deref());
    eprintln!("logpulse: listening on http://{address}");
    tracing::info!(%address, data_dir = %data_dir.display(), sources = threads.len(), "worker started");
    Ok(Started { runtime, listener, app, reloader, stop, done, threads, hub, alert_owner, compactor, rule_watch })
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
