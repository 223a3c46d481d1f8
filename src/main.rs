mod cli;
mod config;
mod connectors;
mod engine;
mod pg;
mod server;

fn main() -> std::process::ExitCode {
    cli::main()
}
