//! The dependency graph: validation (duplicates, missing dependencies, cycles) and the
//! deterministic start order.
//!
//! Plugins are first sorted by name, so nothing depends on the order `inventory` or the caller
//! listed them in. Kahn's algorithm then emits them in dependency order, always taking the
//! smallest ready name next. With V plugins and E edges: O(V log V) to sort, O(V + E) hashed
//! lookups of names, and O((V + E) log64 V) for Kahn's algorithm (its ready set is a few
//! words a level, [`RankSet`]).
//!
//! [`GraphView`] (in `graph/render.rs`) draws a set, valid or not, as DOT or Mermaid.

mod render;

use std::borrow::Borrow;
use std::collections::HashMap;
use std::sync::Arc;

use plugin_core::PluginMetadata;

use crate::error::{GraphError, GraphWarning, InvalidPluginSet};

pub use self::render::{GraphFormat, GraphView, NodeMark};

/// A validated dependency graph, its nodes numbered in start order.
///
/// ```
/// use plugin_core::PluginMetadata;
/// use plugin_manager::DependencyGraph;
///
/// let graph = DependencyGraph::new(&[
///     PluginMetadata::new("dice").with_deps(["commands"]),
///     PluginMetadata::new("commands"),
///     PluginMetadata::new("help").with_deps(["commands"]),
/// ])?;
/// assert_eq!(graph.start_order(), ["commands", "dice", "help"]);
/// # Ok::<(), plugin_manager::InvalidPluginSet>(())
/// ```
#[derive(Debug, Clone)]
pub struct DependencyGraph {
    names: Names,
    /// For each node (in start order), the positions in the caller's slice.
    source: Vec<usize>,
    /// Required dependencies of each node.
    deps: Adjacency,
    /// Optional dependencies that are present.
    optional_deps: Adjacency,
    /// Nodes that require each node (the reverse of `deps`).
    dependents: Adjacency,
    /// Nodes that optionally use each node.
    optional_dependents: Adjacency,
    /// The positions in name order, to find a name by binary search (no copy of the names,
    /// no hashing of them).
    by_name: Vec<usize>,
    /// Optional dependencies that name no plugin (see [`DependencyGraph::warnings`]).
    warnings: Vec<GraphWarning>,
}

/// The plugins' names, in start order.
#[derive(Debug, Clone)]
enum Names {
    /// Copies of them (a graph of metadata the caller keeps, [`DependencyGraph::new`]).
    Copied(Vec<String>),
    /// The plugins' own metadata (the manager's graph, [`DependencyGraph::of_shared`]).
    Shared(Vec<Arc<PluginMetadata>>),
}

impl Names {
    fn get(&self, position: usize) -> &str {
        match self {
            Self::Copied(names) => &names[position],
            Self::Shared(metadata) => &metadata[position].name,
        }
    }

    fn len(&self) -> usize {
        match self {
            Self::Copied(names) => names.len(),
            Self::Shared(metadata) => metadata.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl DependencyGraph {
    /// Validates `plugins` and orders them.
    ///
    /// # Errors
    ///
    /// [`InvalidPluginSet`] with every problem found: duplicate or invalid names, missing
    /// dependencies, cycles.
    pub fn new<M: Borrow<PluginMetadata>>(plugins: &[M]) -> Result<Self, InvalidPluginSet> {
        let plugins: Vec<&PluginMetadata> = plugins.iter().map(Borrow::borrow).collect();
        Self::ordered(&plugins, |order| {
            Names::Copied(order.iter().map(|&i| plugins[i].name.clone()).collect())
        })
    }

    /// [`DependencyGraph::new`] of the metadata each of `plugins` holds (`metadata`), naming
    /// each plugin by that metadata, shared, rather than by a copy of its name: the manager's
    /// graph, with one list of the shared metadata instead of an allocation for each name.
    pub(crate) fn of_shared<T>(
        plugins: &[T],
        metadata: impl Fn(&T) -> &Arc<PluginMetadata>,
    ) -> Result<Self, InvalidPluginSet> {
        let borrowed: Vec<&PluginMetadata> = plugins.iter().map(|p| &**metadata(p)).collect();
        Self::ordered(&borrowed, |order| {
            Names::Shared(
                order
                    .iter()
                    .map(|&i| metadata(&plugins[i]).clone())
                    .collect(),
            )
        })
    }

    /// Validates `plugins` and orders them; `name_them` makes the names of the order found
    /// (each plugin's index in `plugins`, in start order).
    fn ordered(
        plugins: &[&PluginMetadata],
        name_them: impl FnOnce(&[usize]) -> Names,
    ) -> Result<Self, InvalidPluginSet> {
        let n = plugins.len();
        let names = NameOrder::new(plugins);
        let by_name = &names.by_name;

        let mut errors = Vec::new();
        // One pass over the names, in name order, where equal names are neighbours: the
        // invalid names are reported before the duplicates, each kind in name order, and a
        // duplicate against the first plugin of its name.
        let mut duplicates = Vec::new();
        let mut index: HashMap<&str, usize, foldhash::fast::RandomState> =
            HashMap::with_capacity_and_hasher(n, Default::default());
        let mut first = 0;
        for (rank, &i) in by_name.iter().enumerate() {
            let plugin = plugins[i];
            if plugin_core::check_name(&plugin.name).is_err() {
                errors.push(GraphError::InvalidName {
                    name: plugin.name.clone(),
                    origin: origin(plugin),
                });
            }
            if rank > 0 && names.same_name(plugins, rank - 1, rank) {
                duplicates.push(GraphError::DuplicateName {
                    name: plugin.name.clone(),
                    first: origin(plugins[first]),
                    second: origin(plugin),
                });
            } else {
                first = i;
                index.insert(plugin.name.as_str(), i);
            }
        }
        errors.append(&mut duplicates);
        // Each plugin's dependencies, resolved once to positions in `plugins`: required ones
        // (a missing one is reported and left out), then optional ones that are present.
        let mut required = Adjacency::with_capacity(n, plugins.iter().map(|p| p.deps.len()).sum());
        let mut optional = Adjacency::with_capacity(n, 0);
        let mut any_optional = false;
        for plugin in plugins {
            for dep in &plugin.deps {
                match index.get(dep.as_str()) {
                    Some(&target) => required.targets.push(target),
                    None => errors.push(GraphError::MissingDependency {
                        plugin: plugin.name.clone(),
                        dependency: dep.clone(),
                    }),
                }
            }
            required.end_node();
            any_optional |= !plugin.optional_deps.is_empty();
            let present = plugin.optional_deps.iter();
            optional
                .targets
                .extend(present.filter_map(|dep| index.get(dep.as_str()).copied()));
            optional.end_node();
        }
        // No early return on the errors so far: cycles are looked for too, so that every
        // problem is reported at once (tests/graph.rs `every_problem_is_reported_at_once`).
        // Missing dependencies (already reported) are left out of the edges, and a duplicate
        // name resolves to its first plugin.

        // Kahn's algorithm, always taking the ready plugin first in name order (its rank).
        let mut rank_of = vec![0; n];
        for (rank, &i) in by_name.iter().enumerate() {
            rank_of[i] = rank;
        }
        let mut waiting: Vec<usize> = (0..n)
            .map(|i| required.of(i).len() + optional.of(i).len())
            .collect();
        let required_users = required.reversed();
        let optional_users = if any_optional {
            optional.reversed()
        } else {
            Adjacency::with_capacity(0, 0)
        };
        let mut ready = RankSet::new(n);
        for (i, _) in waiting.iter().enumerate().filter(|&(_, &w)| w == 0) {
            ready.insert(rank_of[i]);
        }
        let mut order = Vec::with_capacity(n);
        while let Some(rank) = ready.pop_first() {
            let i = by_name[rank];
            order.push(i);
            let users = required_users.of(i).iter();
            let users = users.chain(optional_users.of_or_empty(i));
            for &user in users {
                waiting[user] -= 1;
                if waiting[user] == 0 {
                    ready.insert(rank_of[user]);
                }
            }
        }
        if order.len() < n {
            let path = find_cycle(&required, &optional, by_name, &rank_of, &waiting)
                .into_iter()
                .map(|r| plugins[by_name[r]].name.clone())
                .collect();
            errors.push(GraphError::DependencyCycle { path });
        }
        if !errors.is_empty() {
            return Err(InvalidPluginSet::new(errors));
        }

        // Renumbered in start order.
        let mut position = vec![0; n];
        for (pos, &i) in order.iter().enumerate() {
            position[i] = pos;
        }
        let mut deps = Adjacency::with_capacity(n, required.targets.len());
        let mut optional_deps = Adjacency::with_capacity(n, optional.targets.len());
        for &i in &order {
            deps.targets
                .extend(required.of(i).iter().map(|&t| position[t]));
            deps.end_node();
            optional_deps
                .targets
                .extend(optional.of(i).iter().map(|&t| position[t]));
            optional_deps.end_node();
        }
        Ok(Self {
            names: name_them(&order),
            // The names are unique here, so `by_name`'s order is theirs.
            by_name: by_name.iter().map(|&i| position[i]).collect(),
            source: order,
            dependents: deps.reversed(),
            optional_dependents: optional_deps.reversed(),
            deps,
            optional_deps,
            // Seen in the pass above, so a set without optional dependencies is not read again.
            warnings: if any_optional {
                unknown_optional_deps(plugins)
            } else {
                Vec::new()
            },
        })
    }

    /// The optional dependencies that name no plugin of the set, each with the closest
    /// registered name when one is close: not errors (an optional plugin may be left out of
    /// a build on purpose), but a typo in `optional = [...]` would otherwise go unnoticed.
    ///
    /// ```
    /// use plugin_core::PluginMetadata;
    /// use plugin_manager::{DependencyGraph, GraphWarning};
    ///
    /// let graph = DependencyGraph::new(&[
    ///     PluginMetadata::new("audit"),
    ///     PluginMetadata::new("greeter").with_optional_deps(["audti", "metrics"]),
    /// ])?;
    /// let suggestions: Vec<_> = graph
    ///     .warnings()
    ///     .iter()
    ///     .map(|w| match w {
    ///         GraphWarning::UnknownOptionalDependency { dependency, suggestion, .. } => {
    ///             (dependency.as_str(), suggestion.as_deref())
    ///         }
    ///         _ => unreachable!(),
    ///     })
    ///     .collect();
    /// assert_eq!(suggestions, [("audti", Some("audit")), ("metrics", None)]);
    /// # Ok::<(), plugin_manager::InvalidPluginSet>(())
    /// ```
    pub fn warnings(&self) -> &[GraphWarning] {
        &self.warnings
    }

    /// Number of plugins.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are no plugins.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The names in start order: every plugin after its dependencies, ties broken by name.
    pub fn start_order(&self) -> Vec<&str> {
        (0..self.len()).map(|pos| self.name(pos)).collect()
    }

    /// The position of `name` in the start order.
    pub fn position(&self, name: &str) -> Option<usize> {
        let found = self
            .by_name
            .binary_search_by(|&pos| self.name(pos).cmp(name));
        found.ok().map(|at| self.by_name[at])
    }

    /// The name at `position`.
    pub fn name(&self, position: usize) -> &str {
        self.names.get(position)
    }

    /// Where the plugin at `position` was in the slice the graph was made of
    /// ([`DependencyGraph::new`]'s).
    pub fn source_index(&self, position: usize) -> usize {
        self.source[position]
    }

    /// Required dependencies of the plugin at `position`.
    pub fn deps(&self, position: usize) -> &[usize] {
        self.deps.of(position)
    }

    /// Optional dependencies of the plugin at `position` that are present.
    pub fn optional_deps(&self, position: usize) -> &[usize] {
        self.optional_deps.of(position)
    }

    /// Plugins that require the plugin at `position`.
    pub fn dependents(&self, position: usize) -> &[usize] {
        self.dependents.of(position)
    }

    /// Plugins that optionally use the plugin at `position`.
    pub fn optional_dependents(&self, position: usize) -> &[usize] {
        self.optional_dependents.of(position)
    }

    /// `position` and every plugin that requires it, directly or not, in start order.
    pub fn dependents_closure(&self, position: usize) -> Vec<usize> {
        self.closure(position, &self.dependents)
    }

    /// `position` and every plugin it requires, directly or not, in start order.
    pub fn deps_closure(&self, position: usize) -> Vec<usize> {
        self.closure(position, &self.deps)
    }

    fn closure(&self, start: usize, edges: &Adjacency) -> Vec<usize> {
        let mut seen = vec![false; self.len()];
        let mut stack = vec![start];
        seen[start] = true;
        let mut found = Vec::new();
        while let Some(p) = stack.pop() {
            found.push(p);
            for &next in edges.of(p) {
                if !seen[next] {
                    seen[next] = true;
                    stack.push(next);
                }
            }
        }
        found.sort_unstable();
        found
    }
}

/// The optional dependencies of `plugins` that name none of them, in name order of the
/// declaring plugin (then in declaration order), each with the closest name of the set.
pub(crate) fn unknown_optional_deps<M: Borrow<PluginMetadata>>(plugins: &[M]) -> Vec<GraphWarning> {
    if plugins.iter().all(|p| p.borrow().optional_deps.is_empty()) {
        return Vec::new();
    }
    let mut names: Vec<&str> = plugins.iter().map(|p| p.borrow().name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let mut declaring: Vec<&PluginMetadata> = plugins.iter().map(Borrow::borrow).collect();
    declaring.sort_by(|a, b| a.name.cmp(&b.name));
    declaring.dedup_by(|a, b| a.name == b.name);
    let mut warnings = Vec::new();
    for plugin in declaring {
        for dep in &plugin.optional_deps {
            if names.binary_search(&dep.as_str()).is_ok() {
                continue;
            }
            let others = names.iter().copied().filter(|&n| n != plugin.name);
            warnings.push(GraphWarning::UnknownOptionalDependency {
                plugin: plugin.name.clone(),
                dependency: dep.clone(),
                suggestion: closest(dep, others).map(str::to_owned),
            });
        }
    }
    warnings
}

/// The candidate closest to `name`, if it is close: at most two edits away (an edit inserts,
/// deletes or replaces a character, or swaps two neighbours), and at most half of `name`'s
/// length, so that a short name is not "corrected" into an unrelated one. Ties go to the
/// first candidate.
pub(crate) fn closest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = 2.min(name.chars().count() / 2);
    candidates
        .into_iter()
        .map(|candidate| (edit_distance(name, candidate), candidate))
        .filter(|&(distance, _)| distance <= limit && distance > 0)
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, candidate)| candidate)
}

/// The optimal string alignment distance between `a` and `b`: insertions, deletions,
/// replacements and swaps of two neighbouring characters, each counting one.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows of the dynamic-programming table: two back (for swaps), one back, current.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            current[j] = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                current[j] = current[j].min(before[j - 2] + 1);
            }
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// Where a plugin comes from, for messages about duplicates.
fn origin(plugin: &PluginMetadata) -> String {
    match (plugin.crate_name.is_empty(), plugin.type_name.is_empty()) {
        (false, false) => format!("`{}` in crate `{}`", plugin.type_name, plugin.crate_name),
        (false, true) => format!("crate `{}`", plugin.crate_name),
        (true, false) => format!("`{}`", plugin.type_name),
        (true, true) => "a plugin given in code".to_owned(),
    }
}

/// A cycle among the plugins Kahn's algorithm could not emit (`waiting > 0`), as a closed
/// path `a, b, c, a` of ranks (positions in name order), starting from the smallest name on it.
fn find_cycle(
    required: &Adjacency,
    optional: &Adjacency,
    by_name: &[usize],
    rank_of: &[usize],
    waiting: &[usize],
) -> Vec<usize> {
    let stuck = |rank: usize| waiting[by_name[rank]] > 0;
    let needs = |rank: usize| {
        let i = by_name[rank];
        let targets = required.of(i).iter().chain(optional.of(i));
        targets.map(|&t| rank_of[t])
    };
    // Every stuck plugin has a stuck dependency, so walking stuck edges must revisit one.
    let start = (0..by_name.len()).find(|&r| stuck(r)).unwrap_or(0);
    let mut seen_at = HashMap::new();
    let mut walk = Vec::new();
    let mut node = start;
    while !seen_at.contains_key(&node) {
        seen_at.insert(node, walk.len());
        walk.push(node);
        node = needs(node).filter(|&d| stuck(d)).min().unwrap_or(node);
    }
    let mut cycle = walk.split_off(seen_at[&node]);
    let smallest = cycle
        .iter()
        .enumerate()
        .min_by_key(|&(_, &r)| r)
        .map_or(0, |(i, _)| i);
    cycle.rotate_left(smallest);
    // Edges point from a plugin to what it needs: `a -> b` reads "a depends on b".
    cycle.push(cycle[0]);
    cycle
}

/// The plugins in name order (ties, which are duplicates, by crate and type, so that nothing
/// depends on the order they were linked or listed in).
///
/// The sort compares the first eight bytes of each name as one number, kept beside the
/// position (`keys`), and reads the names themselves only where two of those are equal: a
/// set of 10,000 plugins is ordered in its own 160 KB, not by following each name to wherever
/// it was allocated, as often as the sort compares it.
struct NameOrder {
    /// Positions in the caller's slice, in name order.
    by_name: Vec<usize>,
    /// The key of each plugin in `by_name`, in the same order.
    keys: Vec<u64>,
}

impl NameOrder {
    fn new(plugins: &[&PluginMetadata]) -> Self {
        let mut keyed: Vec<(u64, usize)> = plugins
            .iter()
            .enumerate()
            .map(|(i, plugin)| (key(&plugin.name), i))
            .collect();
        // Plugins alike in name, crate and type (duplicates nothing tells apart) keep the order
        // they were given in, as a stable sort keeps them: which one edges resolve to, and so
        // the cycle reported, does not depend on the sort.
        keyed.sort_unstable_by(|&(a_key, a), &(b_key, b)| {
            a_key.cmp(&b_key).then_with(|| {
                let (pa, pb) = (plugins[a], plugins[b]);
                (&pa.name, &pa.crate_name, &pa.type_name)
                    .cmp(&(&pb.name, &pb.crate_name, &pb.type_name))
                    .then(a.cmp(&b))
            })
        });
        let (keys, by_name) = keyed.into_iter().unzip();
        Self { by_name, keys }
    }

    /// Whether the plugins of ranks `a` and `b` have the same name.
    fn same_name(&self, plugins: &[&PluginMetadata], a: usize, b: usize) -> bool {
        self.keys[a] == self.keys[b]
            && plugins[self.by_name[a]].name == plugins[self.by_name[b]].name
    }
}

/// The first eight bytes of `name` as a big-endian number (zero-padded): a name that sorts
/// before another never has a larger key, and names with different keys differ.
fn key(name: &str) -> u64 {
    let mut bytes = [0; 8];
    let len = name.len().min(8);
    bytes[..len].copy_from_slice(&name.as_bytes()[..len]);
    u64::from_be_bytes(bytes)
}

/// The ranks ready to be emitted by Kahn's algorithm, smallest first: a set of the numbers
/// below `n` as bits, with a level above that has a bit for each non-empty word of the level
/// below, up to a single word. Inserting and taking the smallest read and write one word a
/// level (three for 10,000 plugins, four for 16 million), where a binary heap of the ready
/// ranks sifts through `log2` of them for each.
struct RankSet {
    /// The bits of the ranks, then each level's summary; the last has one word.
    levels: Vec<Vec<u64>>,
}

impl RankSet {
    fn new(n: usize) -> Self {
        let mut levels = Vec::new();
        let mut bits = n.max(1);
        loop {
            let words = bits.div_ceil(64);
            levels.push(vec![0; words]);
            if words == 1 {
                return Self { levels };
            }
            bits = words;
        }
    }

    fn insert(&mut self, rank: usize) {
        let mut at = rank;
        for level in &mut self.levels {
            let word = &mut level[at / 64];
            let was_empty = *word == 0;
            *word |= 1 << (at % 64);
            if !was_empty {
                return; // the levels above have its bit already
            }
            at /= 64;
        }
    }

    /// Takes the smallest rank out, if any.
    fn pop_first(&mut self) -> Option<usize> {
        let top = self.levels.last()?;
        if top[0] == 0 {
            return None;
        }
        // Down from the top: at each level, the first non-empty word of the level below.
        let mut at = 0;
        for level in self.levels.iter().rev() {
            at = at * 64 + level[at].trailing_zeros() as usize;
        }
        let rank = at;
        for level in &mut self.levels {
            let word = &mut level[at / 64];
            *word &= !(1 << (at % 64));
            if *word != 0 {
                break; // still non-empty: the levels above keep their bit
            }
            at /= 64;
        }
        Some(rank)
    }
}

/// One list of nodes per node, stored back to back: the edges of a graph of `n` nodes in two
/// allocations instead of `n`.
#[derive(Debug, Clone)]
struct Adjacency {
    /// Where each node's list ends in `targets`; node `i`'s list starts where `i - 1`'s ends.
    ends: Vec<usize>,
    targets: Vec<usize>,
}

impl Adjacency {
    /// Empty, for `nodes` lists of `edges` targets in all (a hint).
    fn with_capacity(nodes: usize, edges: usize) -> Self {
        Self {
            ends: Vec::with_capacity(nodes),
            targets: Vec::with_capacity(edges),
        }
    }

    /// Ends the list of the next node: the targets pushed since the last call.
    #[inline]
    fn end_node(&mut self) {
        self.ends.push(self.targets.len());
    }

    /// The list of `node`.
    #[inline]
    fn of(&self, node: usize) -> &[usize] {
        let start = node.checked_sub(1).map_or(0, |before| self.ends[before]);
        &self.targets[start..self.ends[node]]
    }

    /// The list of `node`, or none if these are no lists at all (made with no nodes).
    #[inline]
    fn of_or_empty(&self, node: usize) -> &[usize] {
        if self.ends.is_empty() {
            &[]
        } else {
            self.of(node)
        }
    }

    /// The reverse edges: for each node, the nodes whose lists hold it, in ascending order.
    fn reversed(&self) -> Self {
        let nodes = self.ends.len();
        let mut ends = vec![0; nodes];
        for &target in &self.targets {
            ends[target] += 1;
        }
        let mut total = 0;
        for end in &mut ends {
            total += *end;
            *end = total;
        }
        // Filled from the back: each target's slot range is consumed from its end down.
        let mut next = ends.clone();
        let mut targets = vec![0; self.targets.len()];
        for node in (0..nodes).rev() {
            for &target in self.of(node).iter().rev() {
                next[target] -= 1;
                targets[next[target]] = node;
            }
        }
        Self { ends, targets }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reversed_adjacency_lists_sources_in_ascending_order() {
        // 0 -> [2, 1], 1 -> [], 2 -> [1], 3 -> [1, 2]
        let mut edges = Adjacency::with_capacity(4, 5);
        for list in [&[2, 1][..], &[], &[1], &[1, 2]] {
            edges.targets.extend_from_slice(list);
            edges.end_node();
        }
        let reversed = edges.reversed();
        let lists: Vec<&[usize]> = (0..4).map(|node| reversed.of(node)).collect();
        assert_eq!(lists, [&[][..], &[0, 2, 3], &[0, 3], &[]]);
    }

    #[test]
    fn keys_never_order_names_the_other_way() {
        let mut rng = fastrand::Rng::with_seed(11);
        // Short alphabets, so that names share prefixes (longer than a key, too), are prefixes
        // of each other, and hold the zero byte a key pads with.
        let name = |rng: &mut fastrand::Rng| -> String {
            let len = rng.usize(0..14);
            (0..len)
                .map(|_| ['a', 'b', '\0'][rng.usize(0..3)])
                .collect()
        };
        for _ in 0..20_000 {
            let (a, b) = (name(&mut rng), name(&mut rng));
            if a < b {
                assert!(key(&a) <= key(&b), "{a:?} < {b:?}");
            }
            if key(&a) != key(&b) {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn plugins_nothing_tells_apart_keep_their_order_so_the_cycle_is_still_found() {
        // Two `a`s alike in name, crate and type: the first given is the one `b` resolves to,
        // and that one needs `b`. Enough other plugins that the sort is not a plain insertion.
        let mut plugins = vec![meta("a", &["b"]), meta("a", &[])];
        plugins.extend((0..30).map(|i| meta(&format!("f{i:02}"), &[])));
        plugins.push(meta("b", &["a"]));
        let errors = DependencyGraph::new(&plugins).unwrap_err();
        let shown: Vec<String> = errors.errors.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 2, "{shown:?}");
        assert!(shown[0].contains("`a`"), "{shown:?}");
        assert_eq!(shown[1], "dependency cycle: a -> b -> a");
    }

    #[test]
    fn rank_set_hands_out_the_smallest_rank_first_at_every_size() {
        let mut rng = fastrand::Rng::with_seed(5);
        // Around each boundary of a word and of a level.
        for n in [1, 2, 63, 64, 65, 4_095, 4_096, 4_097, 262_145] {
            let mut set = RankSet::new(n);
            let mut reference = std::collections::BTreeSet::new();
            assert_eq!(set.pop_first(), None);
            for _ in 0..3 * n.min(5_000) {
                if rng.bool() || reference.is_empty() {
                    let rank = if rng.bool() { rng.usize(0..n) } else { n - 1 };
                    if reference.insert(rank) {
                        set.insert(rank);
                    }
                } else {
                    assert_eq!(set.pop_first(), reference.pop_first(), "n = {n}");
                }
            }
            while let Some(first) = reference.pop_first() {
                assert_eq!(set.pop_first(), Some(first), "n = {n}");
            }
            assert_eq!(set.pop_first(), None, "n = {n}");
        }
    }

    /// What a graph of `plugins` must be, the slow and obvious way: each next plugin is the
    /// one first in name order among those whose present dependencies are all out.
    fn reference_order(plugins: &[PluginMetadata]) -> Vec<String> {
        let present = |name: &String| plugins.iter().any(|p| &p.name == name);
        let mut left: Vec<&PluginMetadata> = plugins.iter().collect();
        left.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out: Vec<String> = Vec::new();
        while !left.is_empty() {
            let next = left
                .iter()
                .position(|p| {
                    let needs = p.deps.iter().chain(p.optional_deps.iter());
                    needs.filter(|d| present(d)).all(|d| out.contains(d))
                })
                .expect("no cycle");
            out.push(left.remove(next).name.clone());
        }
        out
    }

    #[test]
    fn random_sets_are_ordered_and_linked_as_the_reference_does() {
        let mut rng = fastrand::Rng::with_seed(3);
        for round in 0..60 {
            let n = rng.usize(1..120);
            // Long shared prefixes in some rounds: names no key tells apart.
            let prefix = if round % 2 == 0 {
                ""
            } else {
                "plugin-with-a-long-"
            };
            let names: Vec<String> = (0..n).map(|i| format!("{prefix}{i:03}")).collect();
            let mut plugins: Vec<PluginMetadata> = (0..n)
                .map(|i| {
                    let earlier = |rng: &mut fastrand::Rng| names[rng.usize(0..i)].clone();
                    let mut deps: Vec<String> = if i == 0 {
                        Vec::new()
                    } else {
                        (0..rng.usize(0..=3)).map(|_| earlier(&mut rng)).collect()
                    };
                    // Each once: a name listed twice is counted twice, on both sides.
                    deps.sort();
                    deps.dedup();
                    let mut optional: Vec<String> = if i == 0 {
                        Vec::new()
                    } else {
                        (0..rng.usize(0..=1)).map(|_| earlier(&mut rng)).collect()
                    };
                    if rng.usize(0..10) == 0 {
                        optional.push("absent".to_owned());
                    }
                    PluginMetadata::new(names[i].clone())
                        .with_deps(deps)
                        .with_optional_deps(optional)
                })
                .collect();
            rng.shuffle(&mut plugins);
            // The manager's graph (names shared with the metadata) the same as one of copies.
            let shared: Vec<Arc<PluginMetadata>> = plugins.iter().cloned().map(Arc::new).collect();
            let graphs = [
                DependencyGraph::new(&plugins).unwrap(),
                DependencyGraph::of_shared(&shared, |metadata| metadata).unwrap(),
            ];
            for graph in &graphs {
                check_against_reference(graph, &plugins, round);
            }
        }
    }

    /// `graph` of `plugins` orders them as [`reference_order`] does, and links each to its
    /// dependencies and dependents.
    fn check_against_reference(graph: &DependencyGraph, plugins: &[PluginMetadata], round: usize) {
        let n = plugins.len();
        assert_eq!(
            graph.start_order(),
            reference_order(plugins),
            "round {round}"
        );
        for pos in 0..n {
            let plugin = &plugins[graph.source_index(pos)];
            assert_eq!(graph.name(pos), plugin.name);
            assert_eq!(graph.position(&plugin.name), Some(pos));
            let named =
                |list: &[usize]| -> Vec<&str> { list.iter().map(|&p| graph.name(p)).collect() };
            assert_eq!(named(graph.deps(pos)), plugin.deps, "round {round}");
            let present: Vec<&String> = (plugin.optional_deps.iter())
                .filter(|d| graph.position(d).is_some())
                .collect();
            assert_eq!(named(graph.optional_deps(pos)), present, "round {round}");
            let users = |optional: bool| -> Vec<usize> {
                (0..n)
                    .filter(|&u| {
                        let list = if optional {
                            graph.optional_deps(u)
                        } else {
                            graph.deps(u)
                        };
                        list.contains(&pos)
                    })
                    .collect()
            };
            assert_eq!(graph.dependents(pos), users(false), "round {round}");
            assert_eq!(graph.optional_dependents(pos), users(true), "round {round}");
        }
    }

    fn meta(name: &str, deps: &[&str]) -> PluginMetadata {
        PluginMetadata::new(name).with_deps(deps.iter().copied())
    }

    fn order(plugins: &[PluginMetadata]) -> Vec<String> {
        let graph = DependencyGraph::new(plugins).unwrap();
        graph.start_order().into_iter().map(str::to_owned).collect()
    }

    #[test]
    fn chain_starts_from_the_bottom() {
        let plugins = [meta("c", &["b"]), meta("b", &["a"]), meta("a", &[])];
        assert_eq!(order(&plugins), ["a", "b", "c"]);
    }

    #[test]
    fn diamond_orders_each_after_its_deps_with_ties_by_name() {
        let plugins = [
            meta("top", &["right", "left"]),
            meta("right", &["base"]),
            meta("left", &["base"]),
            meta("base", &[]),
        ];
        assert_eq!(order(&plugins), ["base", "left", "right", "top"]);
    }

    #[test]
    fn wide_set_is_ordered_by_name_whatever_the_input_order() {
        let mut plugins: Vec<_> = (0..50).map(|i| meta(&format!("p{i:02}"), &[])).collect();
        let sorted = order(&plugins);
        plugins.reverse();
        assert_eq!(order(&plugins), sorted);
        assert_eq!(sorted.first().map(String::as_str), Some("p00"));
    }

    #[test]
    fn missing_dependency_names_both() {
        let errors = DependencyGraph::new(&[meta("dice", &["commands"])]).unwrap_err();
        assert_eq!(
            errors.errors[0].to_string(),
            "plugin `dice` depends on `commands`, which is not registered"
        );
    }

    #[test]
    fn cycle_prints_its_path() {
        let plugins = [
            meta("a", &["b"]),
            meta("b", &["c"]),
            meta("c", &["a"]),
            meta("d", &[]),
        ];
        let errors = DependencyGraph::new(&plugins).unwrap_err();
        assert_eq!(
            errors.errors[0].to_string(),
            "dependency cycle: a -> b -> c -> a"
        );
    }

    #[test]
    fn self_dependency_is_a_cycle() {
        let errors = DependencyGraph::new(&[meta("a", &["a"])]).unwrap_err();
        assert_eq!(errors.errors[0].to_string(), "dependency cycle: a -> a");
    }

    #[test]
    fn duplicate_names_are_reported_with_both_origins() {
        let mut first = meta("dice", &[]);
        first.crate_name = "plugin-dice".into();
        let mut second = meta("dice", &[]);
        second.crate_name = "other-dice".into();
        let errors = DependencyGraph::new(&[first, second]).unwrap_err();
        let message = errors.errors[0].to_string();
        assert!(
            message.contains("plugin-dice") && message.contains("other-dice"),
            "{message}"
        );
    }

    #[test]
    fn optional_dependency_orders_only_when_present() {
        let with = [
            PluginMetadata::new("a").with_optional_deps(["z"]),
            meta("z", &[]),
        ];
        assert_eq!(order(&with), ["z", "a"]);
        let without = [PluginMetadata::new("a").with_optional_deps(["z"])];
        assert_eq!(order(&without), ["a"]);
    }

    #[test]
    fn edit_distance_counts_inserts_deletes_replacements_and_swaps() {
        assert_eq!(edit_distance("audit", "audit"), 0);
        assert_eq!(edit_distance("audti", "audit"), 1);
        assert_eq!(edit_distance("audt", "audit"), 1);
        assert_eq!(edit_distance("auditt", "audit"), 1);
        assert_eq!(edit_distance("aodit", "audit"), 1);
        assert_eq!(edit_distance("adit", "audits"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("dice", "greeter"), 6);
    }

    #[test]
    fn typo_suggestions_are_close_and_deterministic() {
        let names = ["audit", "commands", "dice", "dice-stats", "greeter"];
        assert_eq!(closest("audti", names), Some("audit"));
        assert_eq!(closest("dicee", names), Some("dice"));
        assert_eq!(closest("dice_stats", names), Some("dice-stats"));
        assert_eq!(closest("comands", names), Some("commands"));
        assert_eq!(closest("metrics", names), None);
        // Three edits away is too far.
        assert_eq!(closest("adt", names), None);
        // A short name is not "corrected" into an unrelated one: at most half of it changes.
        assert_eq!(closest("a", ["b"]), None);
        assert_eq!(closest("ab", ["cd"]), None);
        assert_eq!(closest("ab", ["ac"]), Some("ac"));
        // Equal distances: the first candidate (callers pass names in order).
        assert_eq!(closest("bat", ["bad", "cat"]), Some("bad"));
    }

    #[test]
    fn unknown_optional_deps_are_warnings_with_suggestions() {
        let plugins = [
            meta("audit", &[]),
            PluginMetadata::new("greeter").with_optional_deps(["audti", "audit", "zzz"]),
            PluginMetadata::new("self-ish").with_optional_deps(["self-isx"]),
        ];
        let graph = DependencyGraph::new(&plugins).unwrap();
        let shown: Vec<String> = graph.warnings().iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "plugin `greeter` lists `audti` in `optional`, but no plugin is called that: \
                 did you mean `audit`? (`greeter` runs without it)",
                "plugin `greeter` lists `zzz` in `optional`, but no plugin is called that \
                 (`greeter` runs without it)",
                // A plugin is never suggested as its own optional dependency.
                "plugin `self-ish` lists `self-isx` in `optional`, but no plugin is called \
                 that (`self-ish` runs without it)",
            ]
        );
    }

    #[test]
    fn closures_follow_edges_transitively() {
        let plugins = [
            meta("a", &[]),
            meta("b", &["a"]),
            meta("c", &["b"]),
            meta("d", &[]),
        ];
        let graph = DependencyGraph::new(&plugins).unwrap();
        let a = graph.position("a").unwrap();
        let c = graph.position("c").unwrap();
        let names = |v: Vec<usize>| {
            v.into_iter()
                .map(|p| graph.name(p).to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(graph.dependents_closure(a)), ["a", "b", "c"]);
        assert_eq!(names(graph.deps_closure(c)), ["a", "b", "c"]);
    }
}
