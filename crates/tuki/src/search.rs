//! `tuki search`: rebuilding the full-text index.

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use tuki_store::search::ReindexProgress;

use crate::DbArgs;

#[derive(Subcommand)]
pub enum SearchCommand {
    /// Rebuild the search index of every ticket, person and organisation,
    /// a batch at a time. Search keeps answering from the old index while
    /// it runs, and Tuki may keep serving.
    Reindex,
}

pub async fn run(command: SearchCommand, db: DbArgs) -> anyhow::Result<()> {
    let store = db.open().await?;
    match command {
        SearchCommand::Reindex => {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} tickets, people and organisations {elapsed_precise} (ETA {eta})",
                )
                .expect("a valid template"),
            );
            let started = std::time::Instant::now();
            let done = store
                .reindex_search(|p: ReindexProgress| {
                    bar.set_length(p.total);
                    bar.set_position(p.done);
                })
                .await?;
            bar.finish();
            println!(
                "indexed {} tickets, people and organisations in {:.1} s",
                done.done,
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}
