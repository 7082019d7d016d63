//! Tests of the `tuki` binary as it runs in production: real `tuki serve`
//! processes on loopback ports against a real database.

mod files_cli;
mod files_two_nodes;
mod imap;
mod two_servers;
mod two_writers;
