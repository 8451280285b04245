//! The one error type of the core. Every variant says what is wrong in user
//! terms and, where there is one, names the field, file or partition.

use std::fmt;

/// Result with the core's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, in words a user of sgdisk or qemu-img understands.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An image (or part of one) is not valid: `format` names the format,
    /// `field` the structure or field that is wrong.
    #[error("{format}: {field}: {msg}")]
    Corrupt {
        /// The format (`qcow2`, `gpt`, ...).
        format: &'static str,
        /// The structure or field that is wrong, with its offset where known.
        field: String,
        /// What is wrong with it.
        msg: String,
    },

    /// A valid image that uses a feature imgforge does not handle.
    #[error("{format}: unsupported: {msg}")]
    /// A valid image using something imgforge does not implement.
    Unsupported {
        /// The format.
        format: &'static str,
        /// What is not implemented.
        msg: String,
    },

    /// An input ended before a structure it should hold.
    #[error("{what}: unexpected end of input at byte {offset} (input is {size} bytes)")]
    Truncated {
        /// What was being read.
        what: String,
        /// Where the read started.
        offset: u64,
        /// The input's real size.
        size: u64,
    },

    /// A recipe or command-line value is wrong; `key` names it.
    #[error("{key}: {msg}")]
    /// A wrong recipe value or argument: the key that names it and why.
    Invalid {
        /// The recipe key or argument.
        key: String,
        /// What is wrong with its value.
        msg: String,
    },

    /// Something does not fit: content larger than a filesystem, a partition
    /// past the end of the disk, an allocation over a cap.
    #[error("{what}: {msg}")]
    /// A size or count over a limit: what and by how much.
    NoSpace {
        /// What is over the limit.
        what: String,
        /// The size and the limit.
        msg: String,
    },

    /// The user cancelled the job.
    #[error("cancelled")]
    Cancelled,

    /// An I/O error from an input or output, with what was being done.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        #[source]
        /// The platform's error.
        source: std::io::Error,
    },
}

impl Error {
    /// A damaged image: `format`, the `field` at fault, what is wrong.
    pub fn corrupt(format: &'static str, field: impl Into<String>, msg: impl fmt::Display) -> Self {
        Error::Corrupt {
            format,
            field: field.into(),
            msg: msg.to_string(),
        }
    }
    /// A feature of `format` imgforge does not implement.
    pub fn unsupported(format: &'static str, msg: impl fmt::Display) -> Self {
        Error::Unsupported {
            format,
            msg: msg.to_string(),
        }
    }
    /// A wrong value of the recipe key or argument `key`.
    pub fn invalid(key: impl Into<String>, msg: impl fmt::Display) -> Self {
        Error::Invalid {
            key: key.into(),
            msg: msg.to_string(),
        }
    }
    /// Over a limit (a size, a count) for `what`.
    pub fn no_space(what: impl Into<String>, msg: impl fmt::Display) -> Self {
        Error::NoSpace {
            what: what.into(),
            msg: msg.to_string(),
        }
    }
    /// An I/O error of the platform (a sink, an input) while doing `context`.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
