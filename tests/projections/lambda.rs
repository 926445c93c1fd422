//! The Lambda entry point.
