//! What the worker tells `/healthz`, `/metrics`, `/api/rules` and `/api/alerts`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::metrics::Metrics;
use super::reload::Reloader;

/// What a source tells `/healthz`.
#[derive(Debug, Default)]
pub struct SourceStatus {
    /// Shown in `/healthz` while not connected.
    pub name: String,
    /// Set once the source reached its input (a Kafka assignment, the file glob).
    pub connected: AtomicBool,
}

impl SourceStatus {
    /// A source not connected yet.
    pub fn new(name: String) -> Self {
        SourceStatus { name, connected: AtomicBool::new(false) }
    }
}

/// `/healthz`, `/metrics` and `/api/rules` of this worker.
pub struct Status {
    /// One per source, in config order: `/healthz` names those still waiting.
    pub sources: Vec<Arc<SourceStatus>>,
    /// `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The rules in force (`/api/rules`), reloads, and alerting (`/api/alerts`).
    pub reloader: Arc<Reloader>,
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
