//! Turning a registry command into a program path and arguments, never through a shell.

use std::{
    borrow::Cow,
    collections::BTreeMap,
    ffi::{OsStr, OsString},
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
};

/// A placeholder a backend cannot fill: what varies per job on a backend whose command is
/// fixed (Nomad's parameterized job), or a directory a remote job does not have.
const NOT_HERE: &str = "is not available on this backend: read it from the manifest";

/// The longest parameter value put into an argument.
const MAX_PARAMETER_BYTES: usize = 4096;

/// The values a registry command's arguments may refer to, as the process sees them (container
/// paths in a container, an `s3://` URI for a remote job's manifest).
#[derive(Debug, Clone, Copy)]
pub struct Placeholders<'a> {
    pub manifest: &'a OsStr,
    /// `None` where the processor finds its output location only in the manifest (Nomad).
    pub output_dir: Option<&'a OsStr>,
    /// Where staged inputs are; `None` on backends without a job directory (Kubernetes, Nomad).
    pub input_dir: Option<&'a OsStr>,
    pub job_id: &'a str,
    pub work_dir: Option<&'a OsStr>,
    /// `None` where arguments cannot vary per job (Nomad).
    pub parameters: Option<&'a BTreeMap<String, serde_json::Value>>,
}

/// Why a command could not be built for a job.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("argument {argument:?} of the command: {reason}")]
pub struct ArgumentError {
    pub argument: String,
    pub reason: String,
}

impl<'a> Placeholders<'a> {
    /// The value of `{name}`; `Ok(None)` leaves the braces as written.
    fn value(&self, name: &str, at_start: bool) -> Result<Option<Cow<'a, OsStr>>, String> {
        let own = match name {
            "manifest" => self.manifest,
            "output_dir" => self
                .output_dir
                .ok_or_else(|| format!("{{{name}}} {NOT_HERE}"))?,
            "input_dir" => self
                .input_dir
                .ok_or_else(|| format!("{{{name}}} {NOT_HERE}"))?,
            "job_id" => OsStr::new(self.job_id),
            "work_dir" => self
                .work_dir
                .ok_or_else(|| format!("{{{name}}} {NOT_HERE}"))?,
            _ => {
                let Some(parameter) = name.strip_prefix("parameters.") else {
                    return Ok(None);
                };
                return self
                    .parameter(parameter, at_start)
                    .map(|text| Some(Cow::Owned(OsString::from(text))));
            }
        };
        Ok(Some(Cow::Borrowed(own)))
    }

    /// A parameter comes from a rule and the products: a scalar, as text, that cannot smuggle
    /// in control characters or read as an option.
    fn parameter(&self, name: &str, at_start: bool) -> Result<String, String> {
        let parameters = self
            .parameters
            .ok_or_else(|| format!("{{parameters.{name}}} {NOT_HERE}"))?;
        let text = match parameters.get(name) {
            None => return Err(format!("the job has no parameter {name:?}")),
            Some(serde_json::Value::String(text)) => text.clone(),
            Some(value @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => {
                value.to_string()
            }
            Some(_) => {
                return Err(format!(
                    "parameter {name:?} is not a string, number or boolean"
                ));
            }
        };
        if text.chars().any(char::is_control) {
            return Err(format!("parameter {name:?} holds a control character"));
        }
        if text.len() > MAX_PARAMETER_BYTES {
            return Err(format!(
                "parameter {name:?} is {} bytes long (at most {MAX_PARAMETER_BYTES})",
                text.len()
            ));
        }
        if at_start && text.starts_with('-') {
            return Err(format!(
                "parameter {name:?} starts with '-' and would read as an option"
            ));
        }
        Ok(text)
    }
}

/// Each template argument with its `{manifest}`, `{output_dir}`, `{input_dir}`, `{job_id}`,
/// `{work_dir}` and `{parameters.NAME}` replaced. One template argument is always one
/// argument, whatever the values hold (spaces, `;`, `$(...)`), and substituted text is never
/// substituted again. Other braces stay as written.
pub fn arguments(
    template: &[String],
    values: &Placeholders<'_>,
) -> Result<Vec<OsString>, ArgumentError> {
    template
        .iter()
        .map(|argument| {
            substitute(argument, values).map_err(|reason| ArgumentError {
                argument: argument.clone(),
                reason,
            })
        })
        .collect()
}

fn substitute(argument: &str, values: &Placeholders<'_>) -> Result<OsString, String> {
    let mut out = OsString::new();
    let mut rest = argument;
    while let Some(open) = rest.find('{') {
        out.push(&rest[..open]);
        let after = &rest[open + 1..];
        let at_start = out.is_empty();
        let replaced = match after.find('}') {
            Some(close) => values
                .value(&after[..close], at_start)?
                .map(|value| (value, &after[close + 1..])),
            None => None,
        };
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
    Ok(out)
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

    fn values<'a>(
        work_dir: &'a Path,
        job_id: &'a str,
        parameters: &'a BTreeMap<String, serde_json::Value>,
    ) -> Placeholders<'a> {
        Placeholders {
            manifest: OsStr::new("/w/job/attempt-1/manifest.json"),
            output_dir: Some(OsStr::new("/w/job/attempt-1/output")),
            input_dir: Some(OsStr::new("/w/job/attempt-1/inputs")),
            job_id,
            work_dir: Some(work_dir.as_os_str()),
            parameters: Some(parameters),
        }
    }

    fn no_parameters() -> &'static BTreeMap<String, serde_json::Value> {
        static EMPTY: BTreeMap<String, serde_json::Value> = BTreeMap::new();
        &EMPTY
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
        let args = arguments(
            &template,
            &values(Path::new("/w/job/attempt-1"), "abc", no_parameters()),
        )
        .unwrap();
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
        let args = strings(
            arguments(
                &template,
                &values(Path::new(hostile), hostile, no_parameters()),
            )
            .unwrap(),
        );
        assert_eq!(
            args,
            [hostile, hostile],
            "nothing split, nothing re-substituted"
        );
    }

    #[test]
    fn unknown_and_unclosed_braces_stay_as_written() {
        let template = [r#"{"a": 1}"#, "{nope}", "{job_id", "x{}y"].map(String::from);
        let args = strings(
            arguments(&template, &values(Path::new("/w"), "abc", no_parameters())).unwrap(),
        );
        assert_eq!(args, [r#"{"a": 1}"#, "{nope}", "{job_id", "x{}y"]);
    }

    #[test]
    fn parameters_fill_arguments_as_single_literal_values() {
        let parameters = BTreeMap::from([
            ("tile".to_owned(), serde_json::json!("T32TLR; rm -rf /")),
            ("resolution".to_owned(), serde_json::json!(20)),
            ("dry".to_owned(), serde_json::json!(false)),
        ]);
        let template = [
            "--tile={parameters.tile}",
            "{parameters.resolution}",
            "{parameters.dry}",
            "{input_dir}",
        ]
        .map(String::from);
        let args =
            strings(arguments(&template, &values(Path::new("/w"), "abc", &parameters)).unwrap());
        assert_eq!(
            args,
            [
                "--tile=T32TLR; rm -rf /",
                "20",
                "false",
                "/w/job/attempt-1/inputs"
            ]
        );
    }

    #[test]
    fn parameters_that_could_become_options_or_garbage_are_refused() {
        let parameters = BTreeMap::from([
            (
                "option".to_owned(),
                serde_json::json!("--delete-everything"),
            ),
            ("newline".to_owned(), serde_json::json!("a\nb")),
            ("nul".to_owned(), serde_json::json!("a\u{0}b")),
            ("long".to_owned(), serde_json::json!("x".repeat(5000))),
            ("list".to_owned(), serde_json::json!(["a"])),
        ]);
        let cases = [
            ("{parameters.option}", "starts with '-'"),
            ("{parameters.newline}", "control character"),
            ("{parameters.nul}", "control character"),
            ("{parameters.long}", "5000 bytes long"),
            ("{parameters.list}", "not a string, number or boolean"),
            (
                "{parameters.missing}",
                "the job has no parameter \"missing\"",
            ),
        ];
        for (argument, reason) in cases {
            let error = arguments(
                &[argument.to_owned()],
                &values(Path::new("/w"), "abc", &parameters),
            )
            .unwrap_err();
            assert_eq!(error.argument, argument);
            assert!(error.reason.contains(reason), "{argument}: {error}");
        }
        // After a prefix a leading '-' is part of the value, not an option.
        let args = arguments(
            &["--name={parameters.option}".to_owned()],
            &values(Path::new("/w"), "abc", &parameters),
        )
        .unwrap();
        assert_eq!(strings(args), ["--name=--delete-everything"]);
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
