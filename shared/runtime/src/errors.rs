//! Errors as people read them.

use std::error::Error;

/// An error and its causes on one line, outermost first: what an operator reads in a dead letter,
/// a log line or a test's panic.
pub fn describe_error(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
