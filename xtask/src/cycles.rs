//! The no-import-loops check (issue #28): no module of the backend or the frontend imports,
//! directly or around a circle, a module that imports it.
//!
//! cargo-modules (rust-analyzer's name resolution) draws each crate's module graph; this
//! reads its "uses" edges and finds the circles (strongly connected components). Its own
//! `--acyclic` flag is not used: it looks for loops between items (a type, a method that names
//! the type), which every recursive type has, and is blind to two modules importing each
//! other's items. cargo-modules sees `use` lines and the types in signatures and fields, not
//! paths written inside a function body (`crate::x::f()`), so the check adds those itself:
//! every `crate::…` path outside comments, `use` lines and what follows a file's
//! `#[cfg(test)]` is an edge to the longest module it names (name items by their defining
//! module's path, not a re-export's, or the edge lands on the re-exporting module). Before believing a clean answer, the check runs on
//! `xtask/fixtures/import-loop` and must find both of its loops (one through `use` lines,
//! one only through paths in function bodies).

use std::collections::{BTreeMap, BTreeSet};

use crate::{Result, tools, workspace_root};

/// The crates checked, and the target each is analysed for (the frontend's code is the
/// browser's).
const CRATES: [(&str, Option<&str>); 2] = [
    ("backend", None),
    ("frontend", Some("wasm32-unknown-unknown")),
];

/// `cargo xtask test`'s step: the fixture's loop is found, then none in our crates.
pub fn check() -> Result<String> {
    tools::ensure_cargo_modules()?;
    // The frontend is analysed for the browser's target.
    tools::ensure_wasm_target()?;
    let fixture = workspace_root()
        .join("xtask")
        .join("fixtures")
        .join("import-loop")
        .join("Cargo.toml");
    let graph = module_graph(&["--manifest-path", &fixture.to_string_lossy()])?;
    if circles(&graph).is_empty() {
        return Err(
            "the no-cycles check found no loop in xtask/fixtures/import-loop, which \
                    has one on purpose: the check is broken"
                .to_owned(),
        );
    }
    let mut found = Vec::new();
    let mut modules = 0;
    for (package, target) in CRATES {
        let mut args = vec!["--package", package];
        if let Some(target) = target {
            args.extend(["--target", target]);
        }
        let mut graph = module_graph(&args)?;
        add_body_paths(
            &mut graph,
            package,
            &workspace_root().join(package).join("src"),
        )?;
        modules += graph.len();
        for circle in circles(&graph) {
            found.push(describe(&graph, &circle));
        }
    }
    if found.is_empty() {
        Ok(format!(" ({modules} modules, no loop)"))
    } else {
        Err(format!(
            "import loops between modules (break each: move what both sides need into a \
             module below them):\n{}",
            found.join("\n")
        ))
    }
}

/// Module → the modules it imports from, as cargo-modules resolves them.
type Graph = BTreeMap<String, BTreeSet<String>>;

/// The library's module graph: only modules, only "uses" edges (no items, no `owns`).
fn module_graph(args: &[&str]) -> Result<Graph> {
    let mut command = tools::cargo();
    command
        .current_dir(workspace_root())
        .args(["modules", "dependencies", "--lib"])
        .args(args)
        .args([
            "--no-externs",
            "--no-sysroot",
            "--no-fns",
            "--no-traits",
            "--no-types",
            "--no-owns",
            "--layout",
            "dot",
        ]);
    let output = command
        .output()
        .map_err(|err| format!("cannot run cargo modules: {err}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo modules dependencies {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(parse_dot(&String::from_utf8_lossy(&output.stdout)))
}

/// The modules (`"a" [label=…]`) and `"a" -> "b" [label="uses", …]` lines of cargo-modules'
/// DOT output.
fn parse_dot(dot: &str) -> Graph {
    let mut graph = Graph::new();
    for line in dot.lines() {
        let Some((edge, attributes)) = line.trim().split_once(" [") else {
            continue;
        };
        if edge.starts_with('"') && !edge.contains(" -> ") {
            graph.entry(edge.trim_matches('"').to_owned()).or_default();
            continue;
        }
        if !attributes.starts_with("label=\"uses\"") {
            continue;
        }
        let Some((from, to)) = edge.split_once(" -> ") else {
            continue;
        };
        let (from, to) = (from.trim_matches('"'), to.trim_matches('"'));
        graph.entry(to.to_owned()).or_default();
        graph
            .entry(from.to_owned())
            .or_default()
            .insert(to.to_owned());
    }
    graph
}

/// Adds an edge for every `crate::…` path in the crate's source (under `src`) from the
/// module of its file to the longest module of the graph it names: what cargo-modules does
/// not see (paths inside function bodies). Comments and what follows a file's
/// `#[cfg(test)]` are skipped (tests are not in the graph).
fn add_body_paths(graph: &mut Graph, krate: &str, src: &std::path::Path) -> Result<()> {
    let mut files = Vec::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir)
            .map_err(|err| format!("cannot read {}: {err}", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    for file in files {
        let Some(module) = module_of(krate, src, &file) else {
            continue;
        };
        if !graph.contains_key(&module) {
            continue;
        }
        let text = std::fs::read_to_string(&file)
            .map_err(|err| format!("cannot read {}: {err}", file.display()))?;
        for line in text.lines() {
            let line = line.trim();
            if line == "#[cfg(test)]" {
                break;
            }
            // Comments name paths they do not use; `use` lines are cargo-modules' own.
            let is_use = ["use ", "pub use ", "pub(crate) use ", "pub(super) use "]
                .iter()
                .any(|start| line.starts_with(start));
            if line.starts_with("//") || is_use {
                continue;
            }
            for (at, _) in line.match_indices("crate::") {
                let path: String = line[at + "crate::".len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                let mut target = krate.to_owned();
                let mut longest = None;
                for segment in path.split("::").filter(|s| !s.is_empty()) {
                    target = format!("{target}::{segment}");
                    if graph.contains_key(&target) {
                        longest = Some(target.clone());
                    } else {
                        break;
                    }
                }
                if let Some(to) = longest.filter(|to| *to != module) {
                    graph.entry(module.clone()).or_default().insert(to);
                }
            }
        }
    }
    Ok(())
}

/// `src/a/b.rs` or `src/a/b/mod.rs` → `krate::a::b`; `src/lib.rs` → `krate`; `None` for a
/// file outside the library (`main.rs`, `bin/`).
fn module_of(krate: &str, src: &std::path::Path, file: &std::path::Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?.with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    match parts.last().map(String::as_str) {
        Some("lib") if parts.len() == 1 => parts.clear(),
        Some("main") if parts.len() == 1 => return None,
        Some("mod") => {
            parts.pop();
        }
        _ => {}
    }
    if parts.first().is_some_and(|p| p == "bin") {
        return None;
    }
    Some(
        std::iter::once(krate.to_owned())
            .chain(parts)
            .collect::<Vec<_>>()
            .join("::"),
    )
}

/// Every circle: a set of two or more modules each reachable from every other (Tarjan's
/// strongly connected components, iterative so a deep graph cannot overflow the stack).
fn circles(graph: &Graph) -> Vec<Vec<String>> {
    let names: Vec<&String> = graph.keys().collect();
    let index_of: BTreeMap<&String, usize> =
        names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let next: Vec<Vec<usize>> = names
        .iter()
        .map(|name| graph[*name].iter().map(|to| index_of[to]).collect())
        .collect();
    let mut order = vec![usize::MAX; names.len()];
    let mut low = vec![0; names.len()];
    let mut on_stack = vec![false; names.len()];
    let mut stack = Vec::new();
    let mut counter = 0;
    let mut found = Vec::new();
    for root in 0..names.len() {
        if order[root] != usize::MAX {
            continue;
        }
        // (node, how many of its edges are done)
        let mut walk = vec![(root, 0)];
        order[root] = counter;
        low[root] = counter;
        counter += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (node, ref mut done)) = walk.last_mut() {
            if let Some(&to) = next[node].get(*done) {
                *done += 1;
                if order[to] == usize::MAX {
                    order[to] = counter;
                    low[to] = counter;
                    counter += 1;
                    stack.push(to);
                    on_stack[to] = true;
                    walk.push((to, 0));
                } else if on_stack[to] {
                    low[node] = low[node].min(order[to]);
                }
                continue;
            }
            walk.pop();
            if let Some(&(parent, _)) = walk.last() {
                low[parent] = low[parent].min(low[node]);
            }
            if low[node] == order[node] {
                let mut component = Vec::new();
                while let Some(member) = stack.pop() {
                    on_stack[member] = false;
                    component.push(names[member].clone());
                    if member == node {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    found.push(component);
                }
            }
        }
    }
    found
}

/// A circle and the imports that tie it.
fn describe(graph: &Graph, circle: &[String]) -> String {
    let mut text = format!("  loop of {} modules: {}", circle.len(), circle.join(", "));
    for from in circle {
        for to in &graph[from] {
            if circle.contains(to) {
                text.push_str(&format!("\n    {from} imports from {to}"));
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &str)]) -> Graph {
        let mut graph = Graph::new();
        for (from, to) in edges {
            graph.entry((*to).to_owned()).or_default();
            graph
                .entry((*from).to_owned())
                .or_default()
                .insert((*to).to_owned());
        }
        graph
    }

    #[test]
    fn a_loop_is_found_and_a_chain_is_not() {
        let chain = graph(&[("a", "b"), ("b", "c"), ("a", "c")]);
        assert!(circles(&chain).is_empty());
        let looped = graph(&[("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("e", "d")]);
        assert_eq!(circles(&looped), vec![vec!["a", "b", "c"]]);
    }

    #[test]
    fn only_uses_edges_are_read() {
        let dot = r##"
    "k" -> "k::a" [label="owns", color="#000000"]; // "owns" edge
    "k::a" -> "k::b" [label="uses", color="#7f7f7f"]; // "uses" edge
    "k::b" -> "k::a" [label="uses", color="#7f7f7f"]; // "uses" edge
"##;
        let graph = parse_dot(dot);
        assert_eq!(graph["k::a"], BTreeSet::from(["k::b".to_owned()]));
        assert!(!graph.contains_key("k"), "an owns edge is not a use");
        assert_eq!(circles(&graph).len(), 1);
    }
}
