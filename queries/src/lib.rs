//! Placeholder: filled by the storage issue.
