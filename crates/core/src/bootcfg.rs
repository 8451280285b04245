//! Boot loader configuration.
