//! The greenhouse controller: starts the plugins its features selected, prints each one's
//! state, shuts down. Exits 2 if the plugin set is invalid.

use std::process::ExitCode;

use plugin_manager::PluginManager;

plugin_manager::link_plugins!();

#[tokio::main]
async fn main() -> ExitCode {
    let manager = match PluginManager::from_registry() {
        Ok(manager) => manager,
        Err(invalid) => {
            eprintln!("greenhouse: {invalid}");
            return ExitCode::from(2);
        }
    };
    manager.start().await;
    for record in manager.records() {
        println!("{} ({}): {}", record.name, record.crate_name, record.state);
    }
    #[cfg(feature = "jitter")]
    println!("jitter: {} ms", fastrand::u64(0..10));
    manager.shutdown().await;
    ExitCode::SUCCESS
}
