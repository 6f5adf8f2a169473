//! The worker's run loop and shutdown: serves HTTP, reloads on SIGHUP, and stops on
//! SIGTERM/SIGINT, on a failed source, or once every finite source is read.
//!
//! Shutdown order: the sources stop fetching and drain (every lane writes its closed
//! windows and a checkpoint, Kafka sources commit), the HTTP server drains, the SQL
//! alerts stop, the alert hub sends what is queued, and the compactor finishes its round.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;

use super::startup::Started;

/// Runs a started worker until it stops; exit 0 on a clean stop.
pub fn serve(started: Started) -> anyhow::Result<ExitCode> {
    let Started { runtime, listener, app, reloader, stop, mut done, threads, hub, alert_owner, compactor, rule_watch } =
        started;
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
                done = done.recv(), if remaining > 0 => {
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
            match done.recv().await {
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
    let result = match failure {
        Some(e) => Err(anyhow::anyhow!(e)).context("worker stopped"),
        None => {
            tracing::info!("stopped cleanly");
            Ok(ExitCode::SUCCESS)
        }
    };
    drop(rule_watch);
    // Finishes the compaction round in progress.
    drop(compactor);
    result
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
