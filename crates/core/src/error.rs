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
        format: &'static str,
        field: String,
        msg: String,
    },

    /// A valid image that uses a feature imgforge does not handle.
    #[error("{format}: unsupported: {msg}")]
    Unsupported { format: &'static str, msg: String },

    /// An input ended before a structure it should hold.
    #[error("{what}: unexpected end of input at byte {offset} (input is {size} bytes)")]
    Truncated {
        what: String,
        offset: u64,
        size: u64,
    },

    /// A recipe or command-line value is wrong; `key` names it.
    #[error("{key}: {msg}")]
    Invalid { key: String, msg: String },

    /// Something does not fit: content larger than a filesystem, a partition
    /// past the end of the disk, an allocation over a cap.
    #[error("{what}: {msg}")]
    NoSpace { what: String, msg: String },

    /// The user cancelled the job.
    #[error("cancelled")]
    Cancelled,

    /// An I/O error from an input or output, with what was being done.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub fn corrupt(format: &'static str, field: impl Into<String>, msg: impl fmt::Display) -> Self {
        Error::Corrupt {
            format,
            field: field.into(),
            msg: msg.to_string(),
        }
    }
    pub fn unsupported(format: &'static str, msg: impl fmt::Display) -> Self {
        Error::Unsupported {
            format,
            msg: msg.to_string(),
        }
    }
    pub fn invalid(key: impl Into<String>, msg: impl fmt::Display) -> Self {
        Error::Invalid {
            key: key.into(),
            msg: msg.to_string(),
        }
    }
    pub fn no_space(what: impl Into<String>, msg: impl fmt::Display) -> Self {
        Error::NoSpace {
            what: what.into(),
            msg: msg.to_string(),
        }
    }
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
