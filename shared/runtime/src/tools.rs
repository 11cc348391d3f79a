//! The project's pinned tools, which `make tools` installs into `.tools/` of the checkout, as the
//! harnesses that start real servers for tests find them.

use std::path::{Path, PathBuf};

/// `$env_var` when it is set; else `.tools/<relative>` in the nearest directory above the working
/// directory, or else above the running binary, where `usable` accepts it. Tests run from the
/// crate's directory and from `target/`, both inside (or beside) the checkout.
pub fn find_tool(env_var: &str, relative: &str, usable: impl Fn(&Path) -> bool) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env_var) {
        return Some(PathBuf::from(path));
    }
    [std::env::current_dir().ok(), std::env::current_exe().ok()]
        .into_iter()
        .flatten()
        .find_map(|start| {
            start
                .ancestors()
                .map(|dir| dir.join(".tools").join(relative))
                .find(|candidate| usable(candidate))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checkouts_own_tools_are_found_from_a_crate_directory() {
        // `make test` installs nats-server into the checkout's .tools/bin before any test runs.
        let found = find_tool("NRT_TEST_UNSET_VARIABLE", "bin/nats-server", Path::is_file)
            .expect("make test-tools installs nats-server into .tools/bin");
        assert!(
            found.ends_with(".tools/bin/nats-server"),
            "{}",
            found.display()
        );
    }

    #[test]
    fn a_tool_nowhere_is_none_and_the_variable_wins() {
        assert_eq!(
            find_tool("NRT_TEST_UNSET_VARIABLE", "bin/no-such-tool", Path::is_file),
            None
        );
        // PATH is always set, so it stands in for a variable naming the tool.
        let path = std::env::var_os("PATH").unwrap();
        assert_eq!(
            find_tool("PATH", "bin/no-such-tool", Path::is_file),
            Some(PathBuf::from(path))
        );
    }
}
