//! `tuki files`: what the desk's attachments take and where, moving them
//! between the data folder and the database, and sweeping unused ones now.

use anyhow::bail;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use tuki_store::files::{Location, MoveProgress};

use crate::DbArgs;

#[derive(Subcommand)]
pub enum FilesCommand {
    /// Counts, bytes, where they are, the quota.
    Status,
    /// Move every stored file to the folder or the database, checking each
    /// copy against its SHA-256 before the original goes. Tuki may keep
    /// serving meanwhile; stopped, it can be run again and goes on.
    Migrate {
        #[arg(long, value_parser = ["folder", "database"])]
        to: String,
    },
    /// Remove unreferenced files past their grace period now (the job
    /// runner does so every hour).
    Sweep,
}

pub async fn run(command: FilesCommand, db: DbArgs) -> anyhow::Result<()> {
    let store = db.open().await?;
    match command {
        FilesCommand::Status => {
            let u = store.file_usage().await?;
            let config = store.files_config();
            println!("files:        {}", u.blobs);
            println!("bytes:        {}", u.bytes);
            println!("in folder:    {}", u.in_folder);
            println!("in database:  {}", u.in_database);
            println!("damaged:      {}", u.damaged);
            println!("new files to: {}", config.write_to.as_str());
            println!("file limit:   {} bytes", config.file_max);
            match u.quota {
                Some(q) => println!(
                    "quota:        {q} bytes ({} left)",
                    q.saturating_sub(u.bytes.max(0) as u64)
                ),
                None => println!("quota:        none"),
            }
        }
        FilesCommand::Migrate { to } => {
            let Some(to) = Location::parse(&to) else {
                bail!("--to is folder or database");
            };
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} files, {msg} {elapsed_precise} (ETA {eta})",
                )
                .expect("a valid template"),
            );
            let show = |p: &MoveProgress| {
                bar.set_length(p.total);
                bar.set_position(p.moved + p.damaged);
                bar.set_message(format!(
                    "{}/{} MB",
                    p.moved_bytes / 1_000_000,
                    p.total_bytes / 1_000_000
                ));
            };
            let done = store.move_files(to, show).await?;
            bar.finish();
            println!(
                "moved {} files ({} bytes) to the {}",
                done.moved,
                done.moved_bytes,
                to.as_str()
            );
            if done.damaged > 0 {
                println!(
                    "{} files are missing or damaged and were not moved; the administrators have been told",
                    done.damaged
                );
            }
            if store.files_config().write_to != to {
                println!(
                    "new files still go to the {}: set TUKI_FILES={} to keep them all in one place",
                    store.files_config().write_to.as_str(),
                    to.as_str()
                );
            }
        }
        FilesCommand::Sweep => {
            let r = store.sweep_files().await?;
            println!("{}", serde_json::to_string(&r)?);
        }
    }
    store.close().await;
    Ok(())
}
