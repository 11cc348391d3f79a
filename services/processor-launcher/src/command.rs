//! Turning a registry command into a program path and arguments, never through a shell.

use std::{
    ffi::{OsStr, OsString},
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
};

/// The values a registry command's arguments may refer to.
#[derive(Debug, Clone, Copy)]
pub struct Placeholders<'a> {
    pub manifest: &'a Path,
    pub output_dir: &'a Path,
    pub job_id: &'a str,
    pub work_dir: &'a Path,
}

impl Placeholders<'_> {
    fn value(&self, name: &str) -> Option<&OsStr> {
        match name {
            "manifest" => Some(self.manifest.as_os_str()),
            "output_dir" => Some(self.output_dir.as_os_str()),
            "job_id" => Some(OsStr::new(self.job_id)),
            "work_dir" => Some(self.work_dir.as_os_str()),
            _ => None,
        }
    }
}

/// Each template argument with its `{manifest}`, `{output_dir}`, `{job_id}` and `{work_dir}`
/// replaced. One template argument is always one argument, whatever the values hold (spaces,
/// `;`, `$(...)`), and substituted text is never substituted again. Other braces stay as written.
pub fn arguments(template: &[String], values: &Placeholders<'_>) -> Vec<OsString> {
    template
        .iter()
        .map(|argument| substitute(argument, values))
        .collect()
}

fn substitute(argument: &str, values: &Placeholders<'_>) -> OsString {
    let mut out = OsString::new();
    let mut rest = argument;
    while let Some(open) = rest.find('{') {
        out.push(&rest[..open]);
        let after = &rest[open + 1..];
        let replaced = after.find('}').and_then(|close| {
            values
                .value(&after[..close])
                .map(|value| (value, &after[close + 1..]))
        });
        match replaced {
            Some((value, remainder)) => {
                out.push(value);
                rest = remainder;
            }
            None => {
                out.push("{");
                rest = after;
            }
        }
    }
    out.push(rest);
    out
}

#[derive(Debug, thiserror::Error)]
#[error("program {program} not found (looked in {searched})")]
pub struct ProgramNotFound {
    pub program: String,
    pub searched: String,
}

/// Where to look for a program named without a path.
#[derive(Debug, Clone, Default)]
pub struct ProgramSearch {
    /// The registry file's directory: paths with a `/` are relative to it.
    pub registry_dir: PathBuf,
    /// The launcher executable's directory, searched first, so binaries built with the
    /// workspace (`nrt-footprint`) are found beside the launcher.
    pub executable_dir: Option<PathBuf>,
    /// The launcher's `PATH`, searched last.
    pub path: Option<OsString>,
}

impl ProgramSearch {
    /// An absolute path as is; a path with `/` relative to the registry's directory; a bare name
    /// in the launcher's own directory, then on `PATH`.
    pub fn resolve(&self, program: &str) -> Result<PathBuf, ProgramNotFound> {
        let as_path = Path::new(program);
        if as_path.is_absolute() {
            return Ok(as_path.to_owned());
        }
        if program.contains('/') {
            return Ok(self.registry_dir.join(as_path));
        }
        let path_dirs = self
            .path
            .as_deref()
            .map(|path| std::env::split_paths(path).collect::<Vec<_>>())
            .unwrap_or_default();
        let candidates: Vec<PathBuf> = self
            .executable_dir
            .iter()
            .cloned()
            .chain(path_dirs)
            .collect();
        candidates
            .iter()
            .map(|dir| dir.join(program))
            .find(|candidate| is_executable(candidate))
            .ok_or_else(|| ProgramNotFound {
                program: program.to_owned(),
                searched: candidates
                    .iter()
                    .map(|dir| dir.display().to_string())
                    .collect::<Vec<_>>()
                    .join(":"),
            })
    }
}

fn is_executable(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values<'a>(work_dir: &'a Path, job_id: &'a str) -> Placeholders<'a> {
        Placeholders {
            manifest: Path::new("/w/job/attempt-1/manifest.json"),
            output_dir: Path::new("/w/job/attempt-1/output"),
            job_id,
            work_dir,
        }
    }

    fn strings(args: Vec<OsString>) -> Vec<String> {
        args.into_iter()
            .map(|arg| arg.into_string().unwrap())
            .collect()
    }

    #[test]
    fn placeholders_are_replaced_inside_their_argument() {
        let template = [
            "--manifest",
            "{manifest}",
            "--out={output_dir}/x",
            "{job_id}",
        ]
        .map(String::from);
        let args = arguments(&template, &values(Path::new("/w/job/attempt-1"), "abc"));
        assert_eq!(
            strings(args),
            [
                "--manifest",
                "/w/job/attempt-1/manifest.json",
                "--out=/w/job/attempt-1/output/x",
                "abc"
            ]
        );
    }

    #[test]
    fn a_value_with_spaces_semicolons_and_substitutions_stays_one_literal_argument() {
        let hostile = "a b; rm -rf / $(reboot) `id` {job_id}";
        let template = ["{work_dir}", "{job_id}"].map(String::from);
        let args = strings(arguments(&template, &values(Path::new(hostile), hostile)));
        assert_eq!(
            args,
            [hostile, hostile],
            "nothing split, nothing re-substituted"
        );
    }

    #[test]
    fn unknown_and_unclosed_braces_stay_as_written() {
        let template = [r#"{"a": 1}"#, "{nope}", "{job_id", "x{}y"].map(String::from);
        let args = strings(arguments(&template, &values(Path::new("/w"), "abc")));
        assert_eq!(args, [r#"{"a": 1}"#, "{nope}", "{job_id", "x{}y"]);
    }

    fn executable(dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn absolute_paths_are_taken_as_is_and_relative_ones_from_the_registry() {
        let search = ProgramSearch {
            registry_dir: PathBuf::from("/etc/nrt-mesh"),
            ..ProgramSearch::default()
        };
        assert_eq!(
            search.resolve("/opt/p/run").unwrap(),
            Path::new("/opt/p/run")
        );
        assert_eq!(
            search.resolve("bin/snow").unwrap(),
            Path::new("/etc/nrt-mesh/bin/snow")
        );
    }

    #[test]
    fn a_bare_name_is_found_beside_the_launcher_before_path() {
        let own = tempfile::tempdir().unwrap();
        let on_path = tempfile::tempdir().unwrap();
        let beside = executable(own.path(), "nrt-footprint");
        executable(on_path.path(), "nrt-footprint");
        let only_on_path = executable(on_path.path(), "other");
        let search = ProgramSearch {
            registry_dir: PathBuf::from("/etc/nrt-mesh"),
            executable_dir: Some(own.path().to_owned()),
            path: Some(std::env::join_paths([Path::new("/nonexistent"), on_path.path()]).unwrap()),
        };
        assert_eq!(search.resolve("nrt-footprint").unwrap(), beside);
        assert_eq!(search.resolve("other").unwrap(), only_on_path);
    }

    #[test]
    fn a_missing_or_non_executable_program_is_not_found_and_says_where_it_looked() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("data.txt"), "").unwrap();
        let search = ProgramSearch {
            registry_dir: PathBuf::new(),
            executable_dir: Some(dir.path().to_owned()),
            path: None,
        };
        let error = search.resolve("data.txt").unwrap_err().to_string();
        assert!(error.starts_with("program data.txt not found"), "{error}");
        assert!(error.contains(&dir.path().display().to_string()), "{error}");
        assert!(search.resolve("missing").is_err());
    }
}
