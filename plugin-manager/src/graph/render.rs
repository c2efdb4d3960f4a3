//! Drawing a plugin set as a graph: Graphviz DOT or Mermaid text, one node per plugin
//! (`name version`) and one edge from each plugin to each plugin it depends on.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::str::FromStr;

use plugin_core::PluginMetadata;

use super::DependencyGraph;

/// A text format [`GraphView::render`] writes.
///
/// ```
/// use plugin_manager::GraphFormat;
///
/// assert_eq!("mermaid".parse::<GraphFormat>(), Ok(GraphFormat::Mermaid));
/// assert_eq!(GraphFormat::Dot.to_string(), "dot");
/// assert!("svg".parse::<GraphFormat>().unwrap_err().contains("`dot` or `mermaid`"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GraphFormat {
    /// Graphviz: `dot -Tsvg` draws it.
    #[default]
    Dot,
    /// Mermaid flowchart: Markdown renderers (GitHub, GitLab) draw it in a `mermaid` block.
    Mermaid,
}

impl fmt::Display for GraphFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GraphFormat::Dot => "dot",
            GraphFormat::Mermaid => "mermaid",
        })
    }
}

impl FromStr for GraphFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "dot" => Ok(GraphFormat::Dot),
            "mermaid" => Ok(GraphFormat::Mermaid),
            other => Err(format!(
                "unknown graph format `{}`: use `dot` or `mermaid`",
                other.escape_debug()
            )),
        }
    }
}

/// What a node of a [`GraphView`] says about its plugin besides its name and version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum NodeMark {
    /// Nothing to say: the plugin would start (or no configuration was looked at).
    #[default]
    None,
    /// The configuration switches it off (`enabled = false`).
    SwitchedOff,
    /// It is on, but a plugin it requires is switched off, so it stays off too.
    HeldOff,
    /// It would fail before running: an invalid configuration section, a missing
    /// dependency, a cycle, or a dependency that fails.
    Failed,
    /// Not a plugin of the set: a name some plugin requires and nothing answers to.
    Missing,
}

impl NodeMark {
    /// The words shown under the label, if any.
    fn words(self) -> Option<&'static str> {
        match self {
            NodeMark::None => None,
            NodeMark::SwitchedOff => Some("switched off"),
            NodeMark::HeldOff => Some("held off"),
            NodeMark::Failed => Some("failed"),
            NodeMark::Missing => Some("not registered"),
        }
    }

    fn class(self) -> Option<&'static str> {
        match self {
            NodeMark::None => None,
            NodeMark::SwitchedOff => Some("off"),
            NodeMark::HeldOff => Some("heldoff"),
            NodeMark::Failed => Some("failed"),
            NodeMark::Missing => Some("missing"),
        }
    }
}

#[derive(Debug, Clone)]
struct Node {
    name: String,
    version: String,
    mark: NodeMark,
}

/// A plugin set drawn as a graph, valid or not; renders as DOT or Mermaid.
///
/// Nodes are in start order when the set is valid, else by name; a required dependency that
/// is not registered gets a node of its own, marked [`NodeMark::Missing`]. An optional
/// dependency is an edge (dashed) only when the optional plugin is present.
///
/// ```
/// use plugin_core::PluginMetadata;
/// use plugin_manager::{GraphFormat, GraphView, NodeMark};
///
/// let mut view = GraphView::new(&[
///     PluginMetadata::new("commands").with_version("0.1.0"),
///     PluginMetadata::new("dice").with_version("0.1.0").with_deps(["commands"]),
///     PluginMetadata::new("greeter")
///         .with_version("0.2.0")
///         .with_deps(["commands"])
///         .with_optional_deps(["dice", "audit"]),
/// ]);
/// assert!(view.mark("dice", NodeMark::SwitchedOff));
///
/// let dot = view.render(GraphFormat::Dot);
/// assert!(dot.starts_with("digraph plugins {"), "{dot}");
/// assert!(dot.contains(r#""dice" [label="dice 0.1.0\nswitched off", style=dashed"#), "{dot}");
/// assert!(dot.contains(r#""dice" -> "commands";"#), "{dot}");
/// assert!(dot.contains(r#""greeter" -> "dice" [style=dashed];"#), "{dot}");
/// assert!(!dot.contains("audit"), "absent optional plugins are not drawn: {dot}");
///
/// let mermaid = view.to_mermaid();
/// assert!(mermaid.starts_with("flowchart BT\n"), "{mermaid}");
/// assert!(mermaid.contains("\n    dice --> commands\n"), "{mermaid}");
/// assert!(mermaid.contains("\n    greeter -.-> dice\n"), "{mermaid}");
/// ```
#[derive(Debug, Clone)]
pub struct GraphView {
    nodes: Vec<Node>,
    /// `(from, to, optional)`: `from` depends on `to`.
    edges: Vec<(usize, usize, bool)>,
    index: HashMap<String, usize>,
}

impl GraphView {
    /// The graph of `plugins`, every node unmarked except dependencies nothing answers to.
    /// Of two plugins with one name, the first one listed is drawn.
    pub fn new<M: Borrow<PluginMetadata>>(plugins: &[M]) -> Self {
        let plugins: Vec<&PluginMetadata> = plugins.iter().map(Borrow::borrow).collect();
        let mut order: Vec<usize> = match DependencyGraph::new(&plugins) {
            Ok(graph) => (0..graph.len()).map(|p| graph.source_index(p)).collect(),
            Err(_) => {
                let mut order: Vec<usize> = (0..plugins.len()).collect();
                order.sort_by(|&a, &b| plugins[a].name.cmp(&plugins[b].name));
                order
            }
        };
        let mut seen = std::collections::HashSet::new();
        order.retain(|&i| seen.insert(plugins[i].name.as_str()));

        let mut view = Self {
            nodes: Vec::with_capacity(order.len()),
            edges: Vec::new(),
            index: HashMap::with_capacity(order.len()),
        };
        for &i in &order {
            view.push(&plugins[i].name, &plugins[i].version, NodeMark::None);
        }
        let mut missing: Vec<&str> = order
            .iter()
            .flat_map(|&i| &plugins[i].deps)
            .map(String::as_str)
            .filter(|dep| !view.index.contains_key(*dep))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        for name in missing {
            view.push(name, "", NodeMark::Missing);
        }
        for (from, &i) in order.iter().enumerate() {
            for dep in &plugins[i].deps {
                view.edges.push((from, view.index[dep.as_str()], false));
            }
            for dep in &plugins[i].optional_deps {
                if let Some(&to) = view.index.get(dep.as_str()) {
                    view.edges.push((from, to, true));
                }
            }
        }
        view
    }

    fn push(&mut self, name: &str, version: &str, mark: NodeMark) {
        self.index.insert(name.to_owned(), self.nodes.len());
        self.nodes.push(Node {
            name: name.to_owned(),
            version: version.to_owned(),
            mark,
        });
    }

    /// Marks the node of `name`; `false` if there is none.
    pub fn mark(&mut self, name: &str, mark: NodeMark) -> bool {
        match self.index.get(name) {
            Some(&i) => {
                self.nodes[i].mark = mark;
                true
            }
            None => false,
        }
    }

    /// The mark of `name`'s node, if there is one.
    pub fn mark_of(&self, name: &str) -> Option<NodeMark> {
        self.index.get(name).map(|&i| self.nodes[i].mark)
    }

    /// The nodes' names, in the order they are drawn.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.nodes.iter().map(|n| n.name.as_str())
    }

    /// The edges as `(plugin, dependency, optional)`, in the order they are drawn.
    pub fn edges(&self) -> impl Iterator<Item = (&str, &str, bool)> {
        self.edges.iter().map(|&(from, to, optional)| {
            (
                self.nodes[from].name.as_str(),
                self.nodes[to].name.as_str(),
                optional,
            )
        })
    }

    /// The graph as text in `format`, ending with a newline.
    pub fn render(&self, format: GraphFormat) -> String {
        match format {
            GraphFormat::Dot => self.to_dot(),
            GraphFormat::Mermaid => self.to_mermaid(),
        }
    }

    /// The graph in Graphviz DOT: `"dice" -> "commands";` for each dependency, optional ones
    /// dashed. Ids and labels are quoted, with `"`, `\` and control characters escaped.
    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph plugins {\n    rankdir=BT;\n    node [shape=box];\n");
        for node in &self.nodes {
            let mut label = label(node);
            if let Some(words) = node.mark.words() {
                label.push('\n');
                label.push_str(words);
            }
            let style = match node.mark {
                NodeMark::None => "",
                NodeMark::SwitchedOff => ", style=dashed, color=gray",
                NodeMark::HeldOff => ", style=dashed, color=orange",
                NodeMark::Failed => ", color=red",
                NodeMark::Missing => ", style=dotted, color=red",
            };
            let _ = writeln!(
                out,
                "    {} [label={}{style}];",
                dot_quote(&node.name),
                dot_quote(&label)
            );
        }
        for &(from, to, optional) in &self.edges {
            let style = if optional { " [style=dashed]" } else { "" };
            let _ = writeln!(
                out,
                "    {} -> {}{style};",
                dot_quote(&self.nodes[from].name),
                dot_quote(&self.nodes[to].name)
            );
        }
        out.push_str("}\n");
        out
    }

    /// The graph as a Mermaid flowchart: `dice --> commands` for each dependency, `-.->` for
    /// optional ones. A name is its node's id unless Mermaid could misread it (a keyword such
    /// as `end`, or `--` inside); such a node gets an id names cannot have (`N3`). Labels are
    /// quoted, with `"`, `#`, `<`, `>` and control characters as Mermaid entity codes.
    pub fn to_mermaid(&self) -> String {
        let ids: Vec<String> = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, node)| mermaid_id(&node.name, i))
            .collect();
        let mut out = String::from("flowchart BT\n");
        for (node, id) in self.nodes.iter().zip(&ids) {
            let mut label = label(node);
            if let Some(words) = node.mark.words() {
                let _ = write!(label, " ({words})");
            }
            let _ = writeln!(out, "    {id}[\"{}\"]", mermaid_text(&label));
        }
        for &(from, to, optional) in &self.edges {
            let arrow = if optional { "-.->" } else { "-->" };
            let _ = writeln!(out, "    {} {arrow} {}", ids[from], ids[to]);
        }
        let mut classes: Vec<(&str, Vec<&str>)> = Vec::new();
        for (node, id) in self.nodes.iter().zip(&ids) {
            if let Some(class) = node.mark.class() {
                match classes.iter_mut().find(|(c, _)| *c == class) {
                    Some((_, members)) => members.push(id),
                    None => classes.push((class, vec![id])),
                }
            }
        }
        for (class, members) in classes {
            let style = match class {
                "off" | "heldoff" => "stroke-dasharray: 5 5,color:#777",
                _ => "stroke:#c00,color:#c00",
            };
            let _ = writeln!(out, "    classDef {class} {style}");
            let _ = writeln!(out, "    class {} {class}", members.join(","));
        }
        out
    }
}

fn label(node: &Node) -> String {
    if node.version.is_empty() {
        node.name.clone()
    } else {
        format!("{} {}", node.name, node.version)
    }
}

/// `text` as a DOT quoted string; a newline becomes DOT's centred line break `\n`.
fn dot_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {
                let _ = write!(out, "\\\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Words a Mermaid flowchart reads as syntax when they stand as a node id.
const MERMAID_KEYWORDS: &[&str] = &[
    "end",
    "graph",
    "flowchart",
    "flowchart-elk",
    "subgraph",
    "direction",
    "style",
    "linkstyle",
    "classdef",
    "class",
    "click",
    "call",
    "href",
    "callback",
    "default",
    "interpolate",
    "accdescr",
    "acctitle",
];

/// The id of the node of `name` (drawn `index`th): the name itself when Mermaid reads it as
/// an id, else `N{index}`, which no plugin name can be (names are lowercase).
fn mermaid_id(name: &str, index: usize) -> String {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
        && !MERMAID_KEYWORDS.contains(&name);
    if plain {
        name.to_owned()
    } else {
        format!("N{index}")
    }
}

/// `text` for a quoted Mermaid label: the characters Mermaid would read as syntax, and
/// control characters, as entity codes (`#quot;`, `#35;`, ...).
fn mermaid_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '#' | '<' | '>' | '&' | '`' | '[' | ']' | '{' | '}' | '|' => {
                let _ = write!(out, "#{};", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "#{};", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_in_both_formats() {
        let mut odd = PluginMetadata::new("odd");
        odd.version = "1.0\"]\n<b>#x\\".to_owned();
        let view = GraphView::new(&[odd]);
        let dot = view.to_dot();
        assert!(
            dot.contains(r#""odd" [label="odd 1.0\"]\n<b>#x\\"];"#),
            "{dot}"
        );
        let mermaid = view.to_mermaid();
        assert!(
            mermaid.contains(r#"odd["odd 1.0#quot;#93;#10;#60;b#62;#35;x\"]"#),
            "{mermaid}"
        );
    }

    #[test]
    fn names_mermaid_would_misread_get_ids_of_their_own() {
        let view = GraphView::new(&[
            PluginMetadata::new("end"),
            PluginMetadata::new("a--b").with_deps(["end"]),
            PluginMetadata::new("dice-stats").with_deps(["end"]),
        ]);
        let mermaid = view.to_mermaid();
        assert!(mermaid.contains("\n    N0[\"end\"]\n"), "{mermaid}");
        assert!(mermaid.contains("\n    N1[\"a--b\"]\n"), "{mermaid}");
        assert!(mermaid.contains("\n    N1 --> N0\n"), "{mermaid}");
        assert!(mermaid.contains("\n    dice-stats --> N0\n"), "{mermaid}");
    }

    #[test]
    fn invalid_sets_are_drawn_too() {
        let view = GraphView::new(&[
            PluginMetadata::new("b").with_deps(["a"]),
            PluginMetadata::new("a").with_deps(["b"]),
            PluginMetadata::new("dice").with_deps(["commands"]),
        ]);
        assert_eq!(
            view.names().collect::<Vec<_>>(),
            ["a", "b", "dice", "commands"]
        );
        assert_eq!(view.mark_of("commands"), Some(NodeMark::Missing));
        let dot = view.to_dot();
        assert!(dot.contains(r#""a" -> "b";"#), "{dot}");
        assert!(dot.contains(r#""b" -> "a";"#), "{dot}");
        assert!(
            dot.contains(r#""commands" [label="commands\nnot registered", style=dotted"#),
            "{dot}"
        );
    }
}
