//! The indexes a compiled rule set is addressed by. They live apart from the types
//! they index so that a stream can list its rules and a rule name its stream without
//! the two modules importing each other.

/// Index of a stream in [`RuleSet::streams`](super::RuleSet::streams).
pub type StreamId = usize;
/// Index of a rule in [`RuleSet::rules`](super::RuleSet::rules).
pub type RuleId = usize;
