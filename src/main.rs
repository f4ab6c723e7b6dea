//! The `trawl` binary: parse the command line, run, print errors as one line.

use std::process::ExitCode;

use clap::Parser;

// Ingest allocates per token and per document on several threads and frees them on others;
// glibc's malloc serialises those frees on an arena lock.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc returns memory unused for a second to the system. Ingest frees hundreds of megabytes
/// of documents every few seconds and allocates as much again, so returned pages were faulted
/// back in and zeroed over and over: a tenth of the ingest's time. trawl keeps what it has freed.
#[allow(unsafe_code)]
fn keep_freed_memory() {
    /// `mi_option_purge_delay` in mimalloc v3's `mimalloc.h` (libmimalloc-sys 0.1.49).
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: sets one of the allocator's process-wide integer options, which mimalloc documents
    // as settable at any time; no memory is passed or touched.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, -1) }
}

fn main() -> ExitCode {
    keep_freed_memory();
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
