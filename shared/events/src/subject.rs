/// Makes `value` safe as one token of a NATS subject.
///
/// Tokens are split on `.` and `*`/`>` are wildcards, so anything outside `[A-Za-z0-9_-]` becomes
/// `_`; an empty value becomes `_` so the subject keeps its shape.
pub fn subject_token(value: &str) -> String {
    if value.is_empty() {
        return "_".to_owned();
    }
    value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dots_spaces_and_wildcards_become_underscores() {
        assert_eq!(subject_token("SENTINEL-2"), "SENTINEL-2");
        assert_eq!(subject_token("a.b c*>"), "a_b_c__");
        assert_eq!(subject_token(""), "_");
    }
}
