//! A detached context: what needs a manager says so, and what it can do alone works.

use std::time::Duration;

use plugin_core::{ConfigSection, Context, PluginMetadata, RequestError};

/// A detached context whose metadata declares `kv`, as the plugin's real metadata would.
fn detached() -> Context {
    Context::detached(PluginMetadata::new("x").with_deps(["kv"]))
}

#[test]
fn a_dependency_of_a_detached_context_is_unavailable_because_it_is_detached() {
    for ctx in [detached(), Context::detached(PluginMetadata::new("x"))] {
        let error = ctx.dep_named::<()>("kv").unwrap_err().to_string();
        assert!(
            error.starts_with(
                "plugin `x`: dependency `kv` is not available: this context is detached \
                 (no manager runs it)"
            ),
            "{error}"
        );
        assert!(!error.contains("declare"), "{error}");
    }
}

#[tokio::test]
async fn a_request_from_a_detached_context_says_it_is_detached() {
    let error = detached()
        .request::<u8, u8>(1, Duration::from_secs(1))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        RequestError::Detached {
            request: "u8",
            plugin: "x".into()
        }
    );
    assert!(
        error.to_string().contains("this context is detached"),
        "{error}"
    );
}

#[tokio::test]
async fn a_detached_plugin_may_still_ask_itself() {
    let ctx = detached();
    let mut requests = ctx.serve::<u8, u8>().unwrap();
    let asking = ctx.request::<u8, u8>(2, Duration::from_secs(1));
    let answering = async {
        let request = requests.recv().await.unwrap();
        let n = *request.payload();
        let _ = request.reply(n * 2);
    };
    let (answer, ()) = tokio::join!(asking, answering);
    assert_eq!(answer, Ok(4));
}

#[test]
fn missing_configuration_of_a_detached_context_says_none_was_given() {
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Needs {
        key: u32,
    }
    let error = detached().config::<Needs>().unwrap_err().to_string();
    assert!(error.contains("missing field `key`"), "{error}");
    assert!(error.contains("this context is detached"), "{error}");

    let given = Context::detached_with_config(
        PluginMetadata::new("x").with_deps(["kv"]),
        ConfigSection::parse_toml("t.toml", 1, "key = \"no\"").unwrap(),
    );
    let error = given.config::<Needs>().unwrap_err().to_string();
    assert!(!error.contains("detached"), "a section was given: {error}");
}

#[test]
fn optional_dependencies_of_a_detached_context_are_absent() {
    let ctx = detached();
    assert!(ctx.is_detached());
    assert!(!ctx.is_enabled("kv"));
}
