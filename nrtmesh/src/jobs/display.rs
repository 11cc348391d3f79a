//! Job records and operator moves as an operator reads them: pure text, no I/O.

use chrono::{DateTime, SecondsFormat, Utc};
use nrt_events::streams::JOBS;
use processor_launcher::{JobRecord, JobState};

use super::{Cancelled, Retried};

/// Longest reason a listing shows: the rest is in `nrtmesh jobs show`.
const SHORT_REASON: usize = 72;

const HEADER: [&str; 7] = [
    "JOB",
    "PROCESSOR",
    "VERSION",
    "STATE",
    "ATTEMPT",
    "UPDATED",
    "DETAIL",
];

/// One line per record under a header, columns aligned.
pub fn table(records: &[JobRecord]) -> String {
    let rows: Vec<[String; 7]> = records
        .iter()
        .map(|record| {
            [
                record.job_id.clone(),
                record.processor.clone(),
                record.processor_version.clone(),
                record.state.to_string(),
                record.attempt.to_string(),
                time(record.updated_at),
                detail(record),
            ]
        })
        .collect();
    let widths: [usize; 7] = std::array::from_fn(|column| {
        rows.iter()
            .map(|row| row[column].chars().count())
            .chain([HEADER[column].len()])
            .max()
            .unwrap_or(0)
    });
    let mut text = String::new();
    for cells in std::iter::once(HEADER.map(str::to_owned)).chain(rows) {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        text.push_str(padded.join("  ").trim_end());
        text.push('\n');
    }
    text
}

/// Who holds the job or when it runs again, and why a failed or dead one failed.
fn detail(record: &JobRecord) -> String {
    let mut parts = Vec::new();
    if let Some(owner) = &record.owner {
        parts.push(format!("owner {owner}"));
    }
    if let (JobState::Retrying, Some(retry_at)) = (record.state, record.retry_at) {
        parts.push(format!("retry at {}", time(retry_at)));
    }
    if matches!(record.state, JobState::Failed | JobState::Dead)
        && let Some(error) = &record.last_error
    {
        parts.push(short(&error.reason));
    }
    if record.state == JobState::Succeeded {
        parts.push(format!("{} outputs", record.outputs.len()));
    }
    parts.join("; ")
}

/// The first line of `reason`, cut to [`SHORT_REASON`] characters.
fn short(reason: &str) -> String {
    let line = reason.lines().next().unwrap_or_default();
    if line.chars().count() <= SHORT_REASON {
        return line.to_owned();
    }
    let cut: String = line.chars().take(SHORT_REASON - 1).collect();
    format!("{cut}…")
}

/// Everything the record holds, one labelled line per field that is set.
pub fn describe(record: &JobRecord, now: DateTime<Utc>) -> String {
    let mut lines = vec![
        ("job", record.job_id.clone()),
        (
            "processor",
            format!("{} {}", record.processor, record.processor_version),
        ),
        ("state", state(record)),
        ("attempts", attempts(record)),
    ];
    if let Some(owner) = &record.owner {
        lines.push(("owner", owner.clone()));
    }
    if let Some(expiry) = record.lease_expires_at {
        let status = if expiry > now { "live" } else { "expired" };
        lines.push(("lease", format!("until {} ({status})", time(expiry))));
    }
    if let Some(retry_at) = record.retry_at {
        lines.push(("retry at", time(retry_at)));
    }
    lines.push((
        "request",
        format!("stream {} sequence {}", JOBS.name, record.request_sequence),
    ));
    if let Some(job) = &record.backend_job {
        lines.push((
            "backend",
            format!("{} {} (id {})", job.backend, job.name, job.id),
        ));
    }
    lines.push(("created", time(record.created_at)));
    lines.push(("updated", time(record.updated_at)));
    let times = [
        ("started", record.started_at),
        ("finished", record.finished_at),
    ];
    lines.extend(
        times
            .map(|(label, at)| at.map(|at| (label, time(at))))
            .into_iter()
            .flatten(),
    );
    let mut text = String::new();
    for (label, value) in lines {
        text.push_str(&format!("{label:<10}  {value}\n"));
    }
    if let Some(error) = &record.last_error {
        let exit = error
            .exit_code
            .map(|code| format!(" (exit code {code})"))
            .unwrap_or_default();
        // Continuation lines of a reason line up under its first.
        let reason = error.reason.replace('\n', "\n            ");
        text.push_str(&format!("last error  {reason}{exit}\n"));
        for line in &error.log_tail {
            text.push_str(&format!("  | {line}\n"));
        }
    }
    if !record.outputs.is_empty() {
        text.push_str(&format!("outputs     {}\n", record.outputs.len()));
        for output in &record.outputs {
            let media_type = output
                .media_type
                .as_ref()
                .map(|media_type| format!("  {media_type}"))
                .unwrap_or_default();
            text.push_str(&format!(
                "  {}  {} bytes  sha256 {}{media_type}\n",
                output.s3_uri(),
                output.size,
                output.sha256
            ));
        }
    }
    if let Some(metadata) = &record.metadata {
        text.push_str(&format!("metadata    {metadata}\n"));
    }
    text
}

fn state(record: &JobRecord) -> String {
    if record.cancelled {
        format!("{}, cancelled by an operator", record.state)
    } else {
        record.state.to_string()
    }
}

fn attempts(record: &JobRecord) -> String {
    if record.relaunched_after == 0 {
        return record.attempt.to_string();
    }
    format!(
        "{} ({} since an operator relaunched it after attempt {})",
        record.attempt,
        record.attempt - record.relaunched_after.min(record.attempt),
        record.relaunched_after
    )
}

/// What a cancel did and what follows from it.
pub fn cancelled(outcome: &Cancelled) -> String {
    let before = &outcome.before;
    let consequence = match &before.owner {
        Some(owner) => format!("its holder {owner} loses its next compare-and-set and stops"),
        None => "no launcher will start it".to_owned(),
    };
    format!(
        "Job {} cancelled: it was {} at attempt {}; now dead, {consequence}.\n",
        before.job_id, before.state, before.attempt
    )
}

/// What a retry did and where the request went.
pub fn retried(outcome: &Retried) -> String {
    let stream = JOBS.name;
    let Retried {
        found,
        relaunched,
        published,
    } = outcome;
    if *relaunched {
        format!(
            "Job {} relaunched: it was {} after {}; its request is published again on {} \
             (stream {stream} sequence {}) for a launcher to pick up.\n",
            found.job_id,
            if found.cancelled { "cancelled" } else { "dead" },
            counted(found.attempt as usize, "attempt"),
            published.subject,
            published.sequence
        )
    } else if published.duplicate {
        format!(
            "Job {} was requested already and its request is in stream {stream} already \
             (sequence {}): nothing published.\n",
            found.job_id, published.sequence
        )
    } else {
        format!(
            "Job {} was requested already: its request is published again on {} (stream \
             {stream} sequence {}), in case an earlier retry could not publish it.\n",
            found.job_id, published.subject, published.sequence
        )
    }
}

/// A job `retry --failed --dry-run` would relaunch.
pub fn would_retry(record: &JobRecord) -> String {
    let reason = record
        .last_error
        .as_ref()
        .map(|error| format!(": {}", short(&error.reason)))
        .unwrap_or_default();
    format!(
        "Would relaunch job {} ({} {}, dead after {}, updated {}){reason}\n",
        record.job_id,
        record.processor,
        record.processor_version,
        counted(record.attempt as usize, "attempt"),
        time(record.updated_at)
    )
}

/// `1 attempt`, `3 attempts`.
pub fn counted(count: usize, noun: &str) -> String {
    let plural = if count == 1 { "" } else { "s" };
    format!("{count} {noun}{plural}")
}

pub fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests;
