//! The `trawl` binary: parse the command line, run, print errors as one line.

use std::process::ExitCode;

use clap::Parser;

// Ingest allocates per token and per document on several threads and frees them on others;
// glibc's malloc serialises those frees on an arena lock.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = trawl::cli::Cli::parse();
    match trawl::cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        // `trawl search … | head` closing the pipe is not an error.
        Err(trawl::Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "trawl: {}",
                trawl::sanitize::escape_controls(&e.to_string())
            );
            ExitCode::from(trawl::cli::EXIT_ERROR)
        }
    }
}
