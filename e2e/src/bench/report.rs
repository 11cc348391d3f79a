//! The benchmark's answer as a table for stdout.

use std::{fmt, time::Duration};

use nrt_nats::SyncInterval;

use super::{Figures, IntervalRun};

/// Everything one `make bench` measured.
#[derive(Debug, Clone)]
pub struct Report {
    pub products: usize,
    pub concurrency: usize,
    pub cores: usize,
    pub runs: Vec<IntervalRun>,
}

/// How the sync interval is written in nats-server's configuration.
pub fn label(sync_interval: SyncInterval) -> &'static str {
    match sync_interval {
        SyncInterval::Default => "default",
        SyncInterval::Always => "always",
    }
}

/// What the figures mean, printed above the table.
const LEGEND: &str = "\
products/s: from the first ProductDiscovered to the last ItemPublished, by the events' own times
ingest/s:   from the first ProductDiscovered to the last (the relay: its source's publications)
launch/s:   from the first ProductDiscovered to the last JobStarted
latency:    ProductDiscovered to JobStarted (launch) and to ItemPublished (publish), in ms
baseline:   the same hops as a bare JetStream relay: decode, publish with Nats-Msg-Id, await PubAck, ack
";

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "nrt-bench: {} products released at once per run; {} messages at once per consumer; {} cores",
            self.products, self.concurrency, self.cores
        )?;
        writeln!(f, "{LEGEND}")?;
        writeln!(
            f,
            "{:<8} {:<14} {:>10} {:>10} {:>10} {:>11} {:>10} {:>12} {:>10}",
            "sync",
            "run",
            "products/s",
            "ingest/s",
            "launch/s",
            "launch p50",
            "p99",
            "publish p50",
            "p99"
        )?;
        for run in &self.runs {
            let (mesh, baseline) = (&run.mesh.figures, &run.baseline);
            let cells = |figures: &Figures| {
                [
                    format!("{:.1}", figures.throughput),
                    format!("{:.1}", figures.ingest_rate),
                    format!("{:.1}", figures.launch_rate),
                    millis(figures.to_launched.p50),
                    millis(figures.to_launched.p99),
                    millis(figures.to_published.p50),
                    millis(figures.to_published.p99),
                ]
            };
            row(f, label(run.sync_interval), "mesh", cells(mesh))?;
            row(f, "", "baseline", cells(baseline))?;
            let ratios = [
                ratio(mesh.throughput, baseline.throughput),
                ratio(mesh.ingest_rate, baseline.ingest_rate),
                ratio(mesh.launch_rate, baseline.launch_rate),
                duration_ratio(mesh.to_launched.p50, baseline.to_launched.p50),
                duration_ratio(mesh.to_launched.p99, baseline.to_launched.p99),
                duration_ratio(mesh.to_published.p50, baseline.to_published.p50),
                duration_ratio(mesh.to_published.p99, baseline.to_published.p99),
            ];
            row(f, "", "mesh/baseline", ratios)?;
        }
        self.write_usage(f)
    }
}

impl Report {
    /// Peak RSS and CPU time of every service, one column per sync interval.
    fn write_usage(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "\nservice processes of the mesh, per sync interval:")?;
        write!(f, "{:<20}", "service")?;
        for run in &self.runs {
            write!(
                f,
                " {:>21}",
                format!("peak RSS MiB {}", label(run.sync_interval))
            )?;
        }
        for run in &self.runs {
            write!(f, " {:>14}", format!("CPU s {}", label(run.sync_interval)))?;
        }
        writeln!(f)?;
        let Some(first) = self.runs.first() else {
            return Ok(());
        };
        for service in &first.mesh.services {
            write!(f, "{:<20}", service.name)?;
            let usage_in = |run: &IntervalRun| {
                run.mesh
                    .services
                    .iter()
                    .find(|usage| usage.name == service.name)
                    .cloned()
            };
            for run in &self.runs {
                let rss = usage_in(run)
                    .and_then(|usage| usage.peak_rss_kib)
                    .map_or("?".into(), |kib| format!("{:.1}", kib as f64 / 1024.0));
                write!(f, " {rss:>21}")?;
            }
            for run in &self.runs {
                let cpu = usage_in(run)
                    .and_then(|usage| usage.cpu_time)
                    .map_or("?".into(), |cpu| format!("{:.2}", cpu.as_secs_f64()));
                write!(f, " {cpu:>14}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

fn row(f: &mut fmt::Formatter<'_>, sync: &str, run: &str, cells: [String; 7]) -> fmt::Result {
    let [
        throughput,
        ingest,
        launch,
        launch_p50,
        launch_p99,
        publish_p50,
        publish_p99,
    ] = cells;
    writeln!(
        f,
        "{sync:<8} {run:<14} {throughput:>10} {ingest:>10} {launch:>10} {launch_p50:>11} {launch_p99:>10} {publish_p50:>12} {publish_p99:>10}"
    )
}

fn millis(duration: Duration) -> String {
    format!("{:.1}", duration.as_secs_f64() * 1000.0)
}

fn ratio(mesh: f64, baseline: f64) -> String {
    match mesh / baseline {
        ratio if !ratio.is_finite() => "-".into(),
        // Two decimals would round a mesh hundreds of times slower to 0.00x.
        ratio if ratio < 0.1 => format!("{ratio:.4}x"),
        ratio => format!("{ratio:.2}x"),
    }
}

fn duration_ratio(mesh: Duration, baseline: Duration) -> String {
    ratio(mesh.as_secs_f64(), baseline.as_secs_f64())
}
