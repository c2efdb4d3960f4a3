//! When a dependency is part of the build, as a `cfg` predicate the compiler evaluates in
//! the application: the features that turn an optional dependency on, and the target a
//! target-specific table is for.

use proc_macro2::TokenStream;
use quote::quote;

/// The features of `features` (name, what it enables) that turn on the optional dependency
/// `key`: a feature listing `dep:key` or `key/feature` (not the weak `key?/feature`), and the
/// dependency's implicit feature `key`, which exists unless some feature writes `dep:key`.
///
/// A feature that enables another feature needs no following: Cargo hands rustc every
/// enabled feature, the ones enabled through others included, so the one that names the
/// dependency is always among them.
pub(crate) fn activating_features(key: &str, features: &[(String, Vec<String>)]) -> Vec<String> {
    let explicit = format!("dep:{key}");
    let strong = format!("{key}/");
    let mut names: Vec<String> = features
        .iter()
        .filter(|(_, enables)| {
            enables
                .iter()
                .any(|entry| *entry == explicit || entry.starts_with(&strong))
        })
        .map(|(name, _)| name.clone())
        .collect();
    let implicit = !features
        .iter()
        .any(|(_, enables)| enables.contains(&explicit));
    if implicit && !names.iter().any(|name| name == key) {
        names.push(key.to_owned());
    }
    names.sort();
    names
}

/// The predicate of a `[target.<spec>.dependencies]` table: the inside of `cfg(...)`, or for
/// a target triple its architecture, operating system and environment.
pub(crate) fn target_predicate(spec: &str) -> Result<TokenStream, String> {
    if let Some(inner) = spec
        .trim()
        .strip_prefix("cfg(")
        .and_then(|rest| rest.strip_suffix(')'))
    {
        return inner
            .parse()
            .map_err(|error| format!("cannot read the target `{spec}`: {error}"));
    }
    let parts: Vec<&str> = spec.split('-').collect();
    let (arch, os, env) = match parts.as_slice() {
        [arch, os] => (*arch, *os, None),
        [arch, _vendor, os] => (*arch, *os, None),
        [arch, _vendor, os, env, ..] => (*arch, *os, Some(*env)),
        _ => return Err(format!("cannot read the target `{spec}`")),
    };
    let arch = target_arch(arch);
    let os = if os == "darwin" { "macos" } else { os };
    let env = env.and_then(target_env);
    Ok(match env {
        Some(env) => {
            quote!(all(target_arch = #arch, target_os = #os, target_env = #env))
        }
        None => quote!(all(target_arch = #arch, target_os = #os)),
    })
}

/// `target_arch` of a triple's first part.
fn target_arch(part: &str) -> &str {
    match part {
        "i386" | "i586" | "i686" => "x86",
        "arm64" => "aarch64",
        "powerpc64le" => "powerpc64",
        _ if part.starts_with("armv") || part.starts_with("thumbv") => "arm",
        _ if part.starts_with("riscv64") => "riscv64",
        _ if part.starts_with("riscv32") => "riscv32",
        _ => part,
    }
}

/// `target_env` of a triple's last part (`gnueabihf` is `gnu`; a bare ABI has none).
fn target_env(part: &str) -> Option<&str> {
    ["gnu", "musl", "msvc", "sgx", "uclibc", "newlib"]
        .into_iter()
        .find(|env| part.starts_with(env))
}

/// One way a dependency can be part of the build.
pub(crate) struct Condition {
    /// The target predicate of the table it is in, if target-specific.
    pub(crate) target: Option<TokenStream>,
    /// The features that turn it on, if optional.
    pub(crate) features: Option<Vec<String>>,
}

impl Condition {
    /// The predicate, for `#[cfg(...)]`.
    fn predicate(&self) -> TokenStream {
        let features = self
            .features
            .as_ref()
            .map(|names| quote!(any(#(feature = #names),*)));
        match (&self.target, features) {
            (Some(target), Some(features)) => quote!(all(#target, #features)),
            (Some(target), None) => target.clone(),
            (None, Some(features)) => features,
            (None, None) => quote!(all()),
        }
    }
}

/// The predicate that holds when any of `conditions` does.
pub(crate) fn any_of(conditions: &[Condition]) -> TokenStream {
    let each = conditions.iter().map(Condition::predicate);
    quote!(any(#(#each),*))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(list: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
        list.iter()
            .map(|(name, enables)| {
                let enables = enables.iter().map(|e| (*e).to_owned()).collect();
                ((*name).to_owned(), enables)
            })
            .collect()
    }

    #[test]
    fn a_dependency_without_dep_syntax_has_its_implicit_feature() {
        let table = features(&[("default", &["dice"])]);
        assert_eq!(activating_features("dice", &table), ["dice"]);
    }

    #[test]
    fn dep_syntax_removes_the_implicit_feature() {
        let table = features(&[("roll", &["dep:dice"]), ("all", &["roll", "dep:dice"])]);
        assert_eq!(activating_features("dice", &table), ["all", "roll"]);
    }

    #[test]
    fn a_strong_feature_of_the_dependency_turns_it_on_and_a_weak_one_does_not() {
        let table = features(&[
            ("stats", &["dice/stats"]),
            ("maybe", &["dice?/stats"]),
            ("dice", &["dep:dice"]),
        ]);
        assert_eq!(activating_features("dice", &table), ["dice", "stats"]);
    }

    #[test]
    fn target_tables_become_predicates() {
        assert_eq!(target_predicate("cfg(unix)").unwrap().to_string(), "unix");
        assert_eq!(
            target_predicate("cfg(all(target_os = \"linux\", not(miri)))")
                .unwrap()
                .to_string(),
            quote!(all(target_os = "linux", not(miri))).to_string()
        );
        assert_eq!(
            target_predicate("x86_64-unknown-linux-gnu")
                .unwrap()
                .to_string(),
            quote!(all(
                target_arch = "x86_64",
                target_os = "linux",
                target_env = "gnu"
            ))
            .to_string()
        );
        assert_eq!(
            target_predicate("aarch64-apple-darwin")
                .unwrap()
                .to_string(),
            quote!(all(target_arch = "aarch64", target_os = "macos")).to_string()
        );
        assert!(target_predicate("nonsense").is_err());
    }
}
