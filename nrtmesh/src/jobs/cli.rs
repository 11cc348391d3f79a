//! The command lines of `nrtmesh jobs list|show`, `nrtmesh retry` and `nrtmesh cancel`: parse,
//! connect, call the operations, print, choose the exit code.

use std::process::ExitCode;

use anyhow::Context;
use async_nats::jetstream::{self, kv};
use chrono::{TimeDelta, Utc};
use clap::{ArgGroup, Args, Subcommand};
use nrt_events::streams::KV_JOBS;
use nrt_nats::NatsConfig;
use processor_launcher::{JobState, store::JobStore};

use super::{Filter, JobsError, StreamRequests, display, parse_since, parse_state};

#[derive(Args)]
pub struct Connection {
    /// The NATS server of the mesh.
    #[arg(
        long,
        env = "NRTMESH_NATS_URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    nats_url: String,
}

impl Connection {
    /// The jetstream context and the `jobs` bucket.
    async fn open(&self) -> anyhow::Result<(jetstream::Context, kv::Store)> {
        let client =
            nrt_nats::connect(&NatsConfig::local(self.nats_url.clone()), "nrtmesh").await?;
        let js = jetstream::new(client);
        let kv = js.get_key_value(KV_JOBS).await.with_context(|| {
            format!(
                "cannot open bucket {KV_JOBS}: run `nrtmesh streams apply`, or start a processor launcher"
            )
        })?;
        Ok((js, kv))
    }
}

#[derive(Subcommand)]
pub enum JobsAction {
    /// One line per job, most recently updated first.
    List {
        /// Only jobs in this state (requested, launching, running, failed, retrying, succeeded,
        /// dead); repeat for several.
        #[arg(long = "state", value_name = "STATE", value_parser = parse_state)]
        states: Vec<JobState>,
        /// Only jobs of this processor.
        #[arg(long)]
        processor: Option<String>,
        /// Only jobs updated within this window, e.g. 30m, 6h, 2d.
        #[arg(long, value_parser = parse_since)]
        since: Option<TimeDelta>,
        /// Print the records as a JSON array.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// Everything the record of a job holds.
    Show {
        job: String,
        /// Print the record as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connection: Connection,
    },
}

#[derive(Args)]
#[command(group(ArgGroup::new("which").required(true).args(["job", "failed"])))]
pub struct RetryArgs {
    /// The dead job to relaunch.
    job: Option<String>,
    /// Relaunch every dead job not cancelled by an operator and updated within --since.
    #[arg(long, requires = "since")]
    failed: bool,
    /// With --failed: the window, e.g. 30m, 6h, 2d.
    #[arg(long, requires = "failed", value_parser = parse_since)]
    since: Option<TimeDelta>,
    /// With --failed: only jobs of this processor.
    #[arg(long, requires = "failed")]
    processor: Option<String>,
    /// With --failed: show which jobs would be relaunched, change nothing.
    #[arg(long, requires = "failed")]
    dry_run: bool,
    #[command(flatten)]
    connection: Connection,
}

#[derive(Args)]
pub struct CancelArgs {
    /// The job to cancel.
    job: String,
    /// Kept in the record as the job's last error.
    #[arg(long, default_value = "cancelled with nrtmesh cancel")]
    reason: String,
    #[command(flatten)]
    connection: Connection,
}

pub async fn jobs(action: JobsAction) -> anyhow::Result<ExitCode> {
    match action {
        JobsAction::List {
            states,
            processor,
            since,
            json,
            connection,
        } => {
            let (_, kv) = connection.open().await?;
            let filter = Filter {
                states,
                processor,
                updated_since: since.map(|since| Utc::now() - since),
            };
            let listing = super::list(&kv, &filter).await?;
            for error in &listing.unreadable {
                eprintln!("nrtmesh: skipped: {}", nrt_nats::describe_error(error));
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&listing.records)?);
            } else if listing.records.is_empty() {
                println!("No job in bucket {KV_JOBS} matches.");
            } else {
                print!("{}", display::table(&listing.records));
            }
        }
        JobsAction::Show {
            job,
            json,
            connection,
        } => {
            let (_, kv) = connection.open().await?;
            let found = JobStore::new(kv)
                .get(&job)
                .await?
                .ok_or(JobsError::NotFound { job_id: job })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&found.record)?);
            } else {
                print!("{}", display::describe(&found.record, Utc::now()));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn cancel(args: CancelArgs) -> anyhow::Result<ExitCode> {
    let (_, kv) = args.connection.open().await?;
    let store = JobStore::new(kv);
    let outcome = super::cancel(&store, &args.job, &args.reason, Utc::now()).await?;
    print!("{}", display::cancelled(&outcome));
    Ok(ExitCode::SUCCESS)
}

pub async fn retry(args: RetryArgs) -> anyhow::Result<ExitCode> {
    let (js, kv) = args.connection.open().await?;
    let requests = StreamRequests::new(js);
    match (args.job, args.since) {
        (Some(job), _) => {
            let outcome = super::relaunch(&JobStore::new(kv), &requests, &job, Utc::now()).await?;
            print!("{}", display::retried(&outcome));
            Ok(ExitCode::SUCCESS)
        }
        (None, Some(since)) => {
            retry_failed(&kv, &requests, since, args.processor, args.dry_run).await
        }
        (None, None) => anyhow::bail!("name a job, or --failed with --since"),
    }
}

/// Relaunches every dead, not cancelled job updated within `since`, each on its own: one that
/// cannot be relaunched is reported and the others go on.
async fn retry_failed(
    kv: &kv::Store,
    requests: &StreamRequests,
    since: TimeDelta,
    processor: Option<String>,
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    let now = Utc::now();
    let filter = Filter {
        states: vec![JobState::Dead],
        processor,
        updated_since: Some(now - since),
    };
    let listing = super::list(kv, &filter).await?;
    for error in &listing.unreadable {
        eprintln!("nrtmesh: skipped: {}", nrt_nats::describe_error(error));
    }
    let candidates: Vec<_> = listing
        .records
        .into_iter()
        .filter(super::is_retry_candidate)
        .collect();
    let window = format!("updated since {}", display::time(now - since));
    if dry_run {
        for record in &candidates {
            print!("{}", display::would_retry(record));
        }
        println!(
            "{} {window} would be relaunched; nothing changed (dry run).",
            display::counted(candidates.len(), "dead job")
        );
        return Ok(ExitCode::SUCCESS);
    }
    let store = JobStore::new(kv.clone());
    let mut failures = 0;
    for record in &candidates {
        match super::relaunch(&store, requests, &record.job_id, now).await {
            Ok(outcome) => print!("{}", display::retried(&outcome)),
            Err(error) => {
                failures += 1;
                eprintln!(
                    "nrtmesh: job {} not relaunched: {}",
                    record.job_id,
                    nrt_nats::describe_error(&error)
                );
            }
        }
    }
    let relaunched = candidates.len() - failures;
    println!(
        "{relaunched} of {} {window} relaunched, {failures} could not be.",
        display::counted(candidates.len(), "dead job")
    );
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
