//! Issue 12: one plugin's logs raised alone with a span directive. A test binary of its own:
//! the subscriber is the process's global one, so no other test's threads, hitting the same
//! callsites first, can race its interest in them.

use std::io::Write as _;
use std::sync::{Arc, Mutex};

use plugin_core::{Context, Plugin, PluginInstance, PluginMetadata, Result, async_trait};
use plugin_manager::{PluginManager, PluginSpec};

/// Collects what a `fmt` subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn one_plugins_debug_logs_are_shown_alone_with_a_span_directive() {
    struct Chatty;
    #[async_trait]
    impl Plugin for Chatty {
        async fn setup(&mut self, ctx: &Context) -> Result<()> {
            tracing::debug!("setting up {}", ctx.name());
            let name = ctx.name().to_owned();
            ctx.spawn(async move {
                tracing::debug!("background of {name}");
                Ok(())
            });
            Ok(())
        }
    }
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "error,[plugin{plugin=dice}]=debug",
        ))
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();
    {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            let manager = PluginManager::builder()
                .plugin(PluginSpec::new(PluginMetadata::new("dice"), || {
                    Ok(PluginInstance::new(Chatty))
                }))
                .plugin(PluginSpec::new(PluginMetadata::new("dice-stats"), || {
                    Ok(PluginInstance::new(Chatty))
                }))
                .plugin(PluginSpec::new(PluginMetadata::new("greeter"), || {
                    Ok(PluginInstance::new(Chatty))
                }))
                .build()
                .unwrap();
            manager.start().await;
            tokio::task::yield_now().await;
            manager.shutdown().await;
        });
    }
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let _ = std::io::stderr().write_all(text.as_bytes());
    assert!(text.contains("setting up dice\n"), "{text}");
    assert!(text.contains("background of dice\n"), "{text}");
    assert!(
        text.contains("plugin{plugin=\"dice\""),
        "lines carry the span: {text}"
    );
    assert!(!text.contains("greeter"), "{text}");
    assert!(!text.contains("dice-stats"), "{text}");
}
