//! Golden node counts (placeholder, filled in below).
