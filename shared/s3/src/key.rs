/// Why a string is refused as an object key (or as a name that becomes a path).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("object key is empty")]
    Empty,
    #[error("object key {0:?} is longer than 1024 bytes")]
    TooLong(String),
    #[error("object key {0:?} has a `..` or `.` segment")]
    DotSegment(String),
    #[error("object key {0:?} starts with `/`")]
    Absolute(String),
    #[error("object key {0:?} contains a backslash")]
    Backslash(String),
    #[error("object key {0:?} contains a control character")]
    ControlCharacter(String),
}

/// Accepts keys that are safe to turn into paths and URLs: no `.`/`..` segments, no leading `/`,
/// no backslashes or control characters (NUL included), at most 1024 bytes as S3 allows.
pub fn validate_key(key: &str) -> Result<(), KeyError> {
    if key.is_empty() {
        return Err(KeyError::Empty);
    }
    if key.len() > 1024 {
        return Err(KeyError::TooLong(key.chars().take(64).collect()));
    }
    if key.starts_with('/') {
        return Err(KeyError::Absolute(key.into()));
    }
    if key.contains('\\') {
        return Err(KeyError::Backslash(key.into()));
    }
    if key.chars().any(char::is_control) {
        return Err(KeyError::ControlCharacter(key.into()));
    }
    if key
        .split('/')
        .any(|segment| segment == ".." || segment == ".")
    {
        return Err(KeyError::DotSegment(key.into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_keys_pass() {
        for key in [
            "jobs/footprint/abc/footprint.geojson",
            "a b/c+d.json",
            "été/x..y.tif",
        ] {
            assert_eq!(validate_key(key), Ok(()), "{key}");
        }
    }

    #[test]
    fn unsafe_keys_are_refused_with_the_reason() {
        let long = "a".repeat(1025);
        let cases = [
            ("", KeyError::Empty),
            (
                "../etc/passwd",
                KeyError::DotSegment("../etc/passwd".into()),
            ),
            ("a/../../b", KeyError::DotSegment("a/../../b".into())),
            ("a/./b", KeyError::DotSegment("a/./b".into())),
            ("/etc/passwd", KeyError::Absolute("/etc/passwd".into())),
            ("a\\..\\b", KeyError::Backslash("a\\..\\b".into())),
            ("a\0b", KeyError::ControlCharacter("a\0b".into())),
            ("a\nb", KeyError::ControlCharacter("a\nb".into())),
        ];
        for (key, expected) in cases {
            assert_eq!(validate_key(key), Err(expected), "{key:?}");
        }
        assert!(matches!(validate_key(&long), Err(KeyError::TooLong(_))));
    }
}
