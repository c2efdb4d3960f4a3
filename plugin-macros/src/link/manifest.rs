//! Reading Cargo manifests: the application's dependency entries, resolved through workspace
//! inheritance, and the facts of each path dependency's own package.

use std::fs;
use std::path::{Path, PathBuf};

use toml::{Table, Value};

/// The package every plugin crate depends on directly: what makes a crate a plugin crate.
pub(crate) const CONTRACT_PACKAGE: &str = "plugin-core";

/// A manifest read from disk.
pub(crate) struct Manifest {
    /// Where it was read from.
    pub(crate) path: PathBuf,
    /// Its contents.
    pub(crate) table: Table,
}

impl Manifest {
    /// Reads and parses `dir/Cargo.toml`.
    pub(crate) fn read(dir: &Path) -> Result<Self, String> {
        let path = dir.join("Cargo.toml");
        let text = fs::read_to_string(&path)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        let table = text
            .parse::<Table>()
            .map_err(|error| format!("cannot parse {}: {error}", path.display()))?;
        Ok(Self { path, table })
    }

    /// The folder the manifest is in.
    pub(crate) fn dir(&self) -> &Path {
        self.path.parent().unwrap_or_else(|| Path::new("."))
    }

    /// `[package] name`.
    pub(crate) fn package_name(&self) -> Option<&str> {
        self.table.get("package")?.get("name")?.as_str()
    }

    /// The name the crate's library is known by in Rust code: `[lib] name`, or the package
    /// name with `-` as `_`.
    pub(crate) fn lib_name(&self) -> Option<String> {
        let explicit = self
            .table
            .get("lib")
            .and_then(|lib| lib.get("name"))
            .and_then(Value::as_str);
        explicit
            .map(str::to_owned)
            .or_else(|| self.package_name().map(|name| name.replace('-', "_")))
    }

    /// `[features]`, as feature name to the list of what it enables.
    pub(crate) fn features(&self) -> Vec<(String, Vec<String>)> {
        let Some(features) = self.table.get("features").and_then(Value::as_table) else {
            return Vec::new();
        };
        features
            .iter()
            .map(|(name, enables)| {
                let enables = enables
                    .as_array()
                    .map(|list| {
                        list.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default();
                (name.clone(), enables)
            })
            .collect()
    }

    /// The normal dependency tables: `[dependencies]` (with no target) and each
    /// `[target.<spec>.dependencies]` (with its spec). Dev- and build-dependencies never
    /// link into the application, so they are not read.
    pub(crate) fn dependency_tables(&self) -> Vec<(Option<String>, &Table)> {
        let mut tables = Vec::new();
        if let Some(deps) = self.table.get("dependencies").and_then(Value::as_table) {
            tables.push((None, deps));
        }
        if let Some(targets) = self.table.get("target").and_then(Value::as_table) {
            for (spec, target) in targets {
                if let Some(deps) = target.get("dependencies").and_then(Value::as_table) {
                    tables.push((Some(spec.clone()), deps));
                }
            }
        }
        tables
    }

    /// The manifest of the workspace this one belongs to: itself if it has `[workspace]`,
    /// else the nearest folder above with a `Cargo.toml` that has one.
    pub(crate) fn workspace_root(&self) -> Option<Manifest> {
        if self.table.contains_key("workspace") {
            return Manifest::read(self.dir()).ok();
        }
        self.dir().ancestors().skip(1).find_map(|dir| {
            if !dir.join("Cargo.toml").is_file() {
                return None;
            }
            let manifest = Manifest::read(dir).ok()?;
            manifest.table.contains_key("workspace").then_some(manifest)
        })
    }
}

/// One dependency entry, with workspace inheritance applied.
pub(crate) struct Dependency {
    /// The package it names: the `package` field, or the key.
    pub(crate) package: String,
    /// Whether it is renamed with `package = ...`.
    pub(crate) renamed: bool,
    /// Whether it is `optional = true`.
    pub(crate) optional: bool,
    /// Its folder, for a path dependency.
    pub(crate) path: Option<PathBuf>,
}

impl Dependency {
    /// Reads the entry `key = spec` of `manifest`; `workspace` is the manifest's workspace
    /// root, consulted for `workspace = true` entries.
    pub(crate) fn resolve(
        key: &str,
        spec: &Value,
        manifest: &Manifest,
        workspace: Option<&Manifest>,
    ) -> Self {
        let mut dependency = Self {
            package: key.to_owned(),
            renamed: false,
            optional: false,
            path: None,
        };
        // A plain version string: a registry dependency, nothing else to read.
        let Some(spec) = spec.as_table() else {
            return dependency;
        };
        dependency.optional = spec.get("optional").and_then(Value::as_bool) == Some(true);
        let inherited = spec.get("workspace").and_then(Value::as_bool) == Some(true);
        let (source, base) = match (inherited, workspace) {
            (true, Some(root)) => {
                let entry = root
                    .table
                    .get("workspace")
                    .and_then(|w| w.get("dependencies"))
                    .and_then(|d| d.get(key));
                match entry.and_then(Value::as_table) {
                    Some(entry) => (entry, root.dir()),
                    None => return dependency,
                }
            }
            _ => (spec, manifest.dir()),
        };
        if let Some(package) = source
            .get("package")
            .or_else(|| spec.get("package"))
            .and_then(Value::as_str)
        {
            dependency.package = package.to_owned();
            dependency.renamed = true;
        }
        dependency.path = source
            .get("path")
            .and_then(Value::as_str)
            .map(|path| base.join(path));
        dependency
    }
}

/// The name the crate whose manifest this is gives `plugin-core` in its code: the key of the
/// dependency entry (normal, target-specific or dev) whose package is `plugin-core`, when it
/// is renamed (`pc = { package = "plugin-core", ... }`); `None` when it is not renamed or not
/// a dependency.
pub(crate) fn renamed_contract(manifest: &Manifest) -> Option<String> {
    let workspace = manifest.workspace_root();
    let dev = manifest
        .table
        .get("dev-dependencies")
        .and_then(Value::as_table);
    let tables = manifest
        .dependency_tables()
        .into_iter()
        .map(|(_, deps)| deps)
        .chain(dev);
    for deps in tables {
        for (key, spec) in deps {
            let dependency = Dependency::resolve(key, spec, manifest, workspace.as_ref());
            if dependency.package == CONTRACT_PACKAGE && key != CONTRACT_PACKAGE {
                return Some(key.replace('-', "_"));
            }
        }
    }
    None
}

/// The framework's own crates that depend on `plugin-core` without registering plugins.
const FRAMEWORK_PACKAGES: &[&str] = &["plugin-manager"];

/// Whether the package whose manifest this is is a plugin crate: it depends on `plugin-core`
/// itself, in its normal dependencies (for any target), is not one of the framework's own
/// crates, and does not say `[package.metadata.plugin-core] plugin-crate = false`.
pub(crate) fn is_plugin_crate(manifest: &Manifest) -> bool {
    if manifest
        .package_name()
        .is_some_and(|name| FRAMEWORK_PACKAGES.contains(&name))
    {
        return false;
    }
    let opted_out = manifest
        .table
        .get("package")
        .and_then(|p| p.get("metadata"))
        .and_then(|m| m.get(CONTRACT_PACKAGE))
        .and_then(|m| m.get("plugin-crate"))
        .and_then(Value::as_bool)
        == Some(false);
    !opted_out && depends_on_contract(manifest)
}

fn depends_on_contract(manifest: &Manifest) -> bool {
    let workspace = manifest.workspace_root();
    manifest.dependency_tables().into_iter().any(|(_, deps)| {
        deps.iter().any(|(key, spec)| {
            Dependency::resolve(key, spec, manifest, workspace.as_ref()).package == CONTRACT_PACKAGE
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `files` (path, text) under a fresh folder.
    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("a temporary folder");
        for (path, text) in files {
            let path = dir.path().join(path);
            fs::create_dir_all(path.parent().expect("a parent")).expect("create folders");
            fs::write(path, text).expect("write a manifest");
        }
        dir
    }

    const WORKSPACE: &str = r#"
        [workspace]
        members = ["app", "plugins/*"]
        [workspace.dependencies]
        pc = { path = "core", package = "plugin-core" }
        dice = { path = "plugins/dice", package = "my-dice" }
    "#;

    #[test]
    fn workspace_entries_lend_their_path_and_package() {
        let dir = tree(&[
            ("Cargo.toml", WORKSPACE),
            (
                "app/Cargo.toml",
                "[package]\nname = \"app\"\n[dependencies]\n\
                 dice = { workspace = true, optional = true }\nserde = \"1\"\n",
            ),
        ]);
        let app = Manifest::read(&dir.path().join("app")).unwrap();
        let workspace = app.workspace_root().expect("found above");
        let deps = app.dependency_tables()[0].1;
        let dice = Dependency::resolve("dice", &deps["dice"], &app, Some(&workspace));
        assert_eq!(dice.package, "my-dice");
        assert!(dice.renamed && dice.optional);
        assert_eq!(dice.path, Some(dir.path().join("plugins/dice")));
        let serde = Dependency::resolve("serde", &deps["serde"], &app, Some(&workspace));
        assert_eq!((serde.path, serde.optional), (None, false));
    }

    #[test]
    fn a_plugin_crate_depends_on_plugin_core_itself() {
        let dir = tree(&[
            ("Cargo.toml", WORKSPACE),
            (
                "plugins/dice/Cargo.toml",
                "[package]\nname = \"my-dice\"\n[lib]\nname = \"dice_lib\"\n\
                 [target.'cfg(unix)'.dependencies]\npc.workspace = true\n",
            ),
            (
                "plugins/types/Cargo.toml",
                "[package]\nname = \"types\"\n[package.metadata.plugin-core]\n\
                 plugin-crate = false\n[dependencies]\nplugin-core = \"0.1\"\n",
            ),
            (
                "plugins/rand/Cargo.toml",
                "[package]\nname = \"rand-ish\"\n[dependencies]\nfastrand = \"2\"\n",
            ),
            (
                "manager/Cargo.toml",
                "[package]\nname = \"plugin-manager\"\n[dependencies]\nplugin-core = \"0.1\"\n",
            ),
        ]);
        let read = |path: &str| Manifest::read(&dir.path().join(path)).unwrap();
        let dice = read("plugins/dice");
        assert!(is_plugin_crate(&dice), "through a renamed workspace entry");
        assert_eq!(dice.lib_name().as_deref(), Some("dice_lib"));
        assert!(!is_plugin_crate(&read("plugins/types")), "opted out");
        assert!(!is_plugin_crate(&read("plugins/rand")));
        assert!(!is_plugin_crate(&read("manager")), "the framework's own");
    }

    #[test]
    fn a_renamed_contract_is_found_by_its_key() {
        let dir = tree(&[
            ("Cargo.toml", WORKSPACE),
            (
                "a/Cargo.toml",
                "[package]\nname = \"a\"\n[dependencies]\npc.workspace = true\n",
            ),
            (
                "b/Cargo.toml",
                "[package]\nname = \"b\"\n[dev-dependencies]\n\
                 my-core = { package = \"plugin-core\", version = \"0.1\" }\n",
            ),
            (
                "c/Cargo.toml",
                "[package]\nname = \"c\"\n[dependencies]\nplugin-core = \"0.1\"\n",
            ),
        ]);
        let read = |path: &str| Manifest::read(&dir.path().join(path)).unwrap();
        assert_eq!(renamed_contract(&read("a")).as_deref(), Some("pc"));
        assert_eq!(renamed_contract(&read("b")).as_deref(), Some("my_core"));
        assert_eq!(renamed_contract(&read("c")), None, "not renamed");
    }

    #[test]
    fn an_unreadable_manifest_is_named() {
        let dir = tree(&[("Cargo.toml", "[package\n")]);
        let error = Manifest::read(dir.path()).err().expect("not TOML");
        assert!(error.starts_with("cannot parse "), "{error}");
        let error = Manifest::read(&dir.path().join("nowhere"))
            .err()
            .expect("absent");
        assert!(error.starts_with("cannot read "), "{error}");
    }
}
