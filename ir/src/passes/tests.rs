//! Pass tests (placeholder).
