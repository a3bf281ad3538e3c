//! The one error type of the core. Every failure on user data is a value of it, never a panic.

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Bad content at a known place: `path:line: message` (line is 1-based).
    #[error("{path}:{line}: {message}")]
    Input {
        path: String,
        line: usize,
        message: String,
    },
    /// A bad argument or an inconsistency not tied to one line.
    #[error("{0}")]
    Invalid(String),
    /// The caller asked the work to stop (Ctrl-C).
    #[error("interrupted")]
    Interrupted,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.display().to_string(),
            source,
        }
    }

    pub fn input(path: &str, line: usize, message: impl Into<String>) -> Self {
        Error::Input {
            path: path.to_string(),
            line,
            message: message.into(),
        }
    }
}
