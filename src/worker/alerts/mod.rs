//! Alerting in the worker: one `AlertEvaluator` over every lane, and the notifiers.
//!
//! - After each flush, a lane hands over the `aggregates` rows the store kept (rows
//!   it dropped as already written are not fed twice) and its `closed_through` per
//!   rule.
//! - A rule's window is evaluated once every lane of the rule's stream has closed it:
//!   the frontier is the minimum over those lanes (a lane that has seen no event yet
//!   does not hold it back; a quiet lane's clock moves on with the wall clock). This
//!   is "the worker's watermark is the minimum over its partitions", where it matters.
//! - Notifications are written to the `alerts` table, one producer per alert
//!   (`alert-<name>`, whose window ends only grow), and queued to their notifiers.
//!   Each notifier has its own thread and bounded queue ([`super::notify`]), so a slow
//!   or dead one delays only its own deliveries and never ingestion.
//!
//! - The `alerts` table write and the queuing happen on the hub's writer thread, in
//!   the order the evaluator made the notifications, so a lane's flush only pays for
//!   the evaluation.
//!
//! # One evaluating worker per data dir
//! The alert checkpoint and the delivery ledger are single-writer files, so one
//! worker of a data dir evaluates and notifies: the one holding the `flock` on
//! `checkpoints/alerts.lock` ([`owner::AlertOwner`]). Other workers of the group count and
//! store as usual but evaluate no alerts (they log it, and `/api/alerts` says so); if
//! the owner dies, the next worker to start takes the lock over.
//!
//! # Exactly once across a crash
//! - Every `checkpoint_interval` the evaluator's state (streaks, firing series,
//!   `evaluated_through` per rule, but not the rows of windows still waiting for their
//!   frontier) goes to the writer, which saves it with the ledger's outbox (what the
//!   notifiers still owe) in `checkpoints/alerts.ckpt`, atomically.
//! - On start the state is restored and every `aggregates` row after a rule's
//!   `evaluated_through` is read back from Parquet: rows the lanes wrote after the
//!   checkpoint are in the table and nowhere else, and the lanes only hand over rows
//!   the store kept (above the marks at start). So the evaluator sees each row once,
//!   re-makes the notifications it made after the checkpoint (same ids), and the
//!   [`Ledger`](crate::worker::ledger::Ledger) drops those already delivered. The outbox is queued again.
//! - A rule that the checkpoint does not know (a first start, a changed definition)
//!   starts after the last window the table holds for it
//!   ([`engine::alert::AlertEvaluator::skip_through`]): alerts are not back-filled over history (that
//!   is `replay --alerts`). The state is checkpointed right then, before any lane runs,
//!   so that from the first notification on there is a checkpoint to come back to.
//! - SQL alerts have no table to re-make a run from, so their notifications are
//!   admitted to the ledger, checkpointed with the state that made them, and only then
//!   handed to the notifiers ([`hub::AlertHub::sql_observed`]).

mod checkpoint;
mod hub;
mod owner;
mod recovery;
mod writer;

pub use hub::{AlertHub, HubStart};
pub use owner::AlertOwner;
pub use recovery::start;
pub use writer::write_dead_letter;

#[cfg(test)]
mod tests;
