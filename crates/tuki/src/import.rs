//! `tuki import`: products, devices and contracts from a spreadsheet's CSV
//! file (UTF-8 or Windows-1252, semicolons or commas, Finnish dates), with a
//! progress bar and a report of every wrong row (row, column, why). A file
//! with wrong rows imports nothing unless `--skip-bad` asks for the good
//! rows only.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use tuki_domain::access::Actor;
use tuki_store::coverage::ImportKind;

use crate::DbArgs;

#[derive(Args)]
pub struct ImportArgs {
    /// products, assets or contracts.
    kind: String,
    /// The CSV file.
    file: PathBuf,
    /// Import the good rows when some are wrong (the wrong ones are listed).
    #[arg(long)]
    skip_bad: bool,
}

pub async fn run(args: ImportArgs, db: DbArgs) -> anyhow::Result<()> {
    let kind =
        ImportKind::parse("kind", &args.kind).map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let bytes = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let store = db.open().await?;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} rows {elapsed_precise}")
            .expect("a valid template"),
    );
    let started = std::time::Instant::now();
    let report = store
        .import_csv(
            &Actor::system(),
            kind,
            &bytes,
            args.skip_bad,
            |done, total| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            },
        )
        .await?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    for e in &report.errors {
        let column = if e.column.is_empty() {
            String::new()
        } else {
            format!(", column {}", e.column)
        };
        eprintln!("row {}{column}: {}", e.row, e.message);
    }
    println!(
        "{} of {} rows imported ({}, {:.1} s, {:.0} rows/s){}",
        report.imported,
        report.rows,
        report.encoding,
        secs,
        report.rows as f64 / secs.max(1e-9),
        if report.errors.is_empty() {
            String::new()
        } else {
            format!("; {} wrong rows", report.errors.len())
        }
    );
    if !report.errors.is_empty() && report.imported == 0 {
        anyhow::bail!(
            "nothing imported: fix the rows above, or import the good ones with --skip-bad"
        );
    }
    Ok(())
}
