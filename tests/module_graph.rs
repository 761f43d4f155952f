//! Modules depend one way: in no crate of the workspace does a module reach, through
//! `crate::`, `super::` or `self::` paths, a sibling that reaches it back (directly or around a
//! ring). A module naming its own parent or child is structure, not a dependency, and is not
//! counted. Test modules (`#[cfg(test)] mod tests { .. }`) are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

#[test]
fn no_module_of_any_crate_imports_one_that_imports_it_back() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the workspace").to_owned();
    let mut found = Vec::new();
    for src in crate_sources(&root) {
        for ring in cycles(&src) {
            found.push(format!("{}: {}", src.strip_prefix(&root).unwrap_or(&src).display(), ring.join(" → ")));
        }
    }
    assert!(found.is_empty(), "modules that import each other back (make them depend one way):\n{}", found.join("\n"));
}

#[test]
fn the_check_sees_a_ring_through_use_groups_and_super_paths() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("api")).unwrap();
    std::fs::write(src.join("lib.rs"), "pub mod api;\npub mod store;\n").unwrap();
    std::fs::write(src.join("store.rs"), "use crate::api::{json::{self, Shape}};\n").unwrap();
    std::fs::write(src.join("api/mod.rs"), "pub mod json;\npub mod admin;\n").unwrap();
    std::fs::write(src.join("api/json.rs"), "// crate::store is only a comment\nfn f() { super::admin::g() }\n")
        .unwrap();
    std::fs::write(
        src.join("api/admin.rs"),
        "pub fn g() { let _ = crate::store::X; }\n#[cfg(test)]\nmod tests { use super::super::json; }\n",
    )
    .unwrap();
    let rings = cycles(&src);
    assert_eq!(rings.len(), 1, "{rings:?}");
    assert_eq!(rings[0].len(), 3, "store → api::json → api::admin → store: {rings:?}");

    // A child naming its parent, and the parent re-exporting the child, is not a ring.
    std::fs::write(src.join("api/admin.rs"), "pub fn g() { let _ = super::Thing; }\n").unwrap();
    std::fs::write(src.join("store.rs"), "").unwrap();
    assert!(cycles(&src).is_empty());
}

/// Every `src/` folder of a crate in the workspace (vendored code and build output left out).
fn crate_sources(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        if dir.join("Cargo.toml").is_file() && dir.join("src").is_dir() {
            out.push(dir.join("src"));
        }
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let skip = ["target", "vendor", "node_modules", ".git", ".data", "src", "web"].contains(&name.as_str());
            if entry.path().is_dir() && !skip && !name.starts_with('.') {
                pending.push(entry.path());
            }
        }
    }
    out.sort();
    out
}

/// The rings of modules (as paths relative to `src`) that reach each other.
fn cycles(src: &Path) -> Vec<Vec<String>> {
    let files = module_files(src);
    let modules: BTreeSet<&Module> = files.keys().collect();
    let mut edges: BTreeMap<&Module, BTreeSet<&Module>> = BTreeMap::new();
    for (module, path) in &files {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let targets = edges.entry(module).or_default();
        for reference in references(&without_tests(&strip_comments_and_strings(&text))) {
            if let Some(target) = resolve(module, &reference, &modules)
                && !module.starts_with(target)
                && !target.starts_with(module)
            {
                targets.insert(target);
            }
        }
    }
    strongly_connected(&edges)
        .into_iter()
        .filter(|ring| ring.len() > 1)
        .map(|ring| {
            ring.iter().map(|m| files[*m].strip_prefix(src).unwrap_or(&files[*m]).display().to_string()).collect()
        })
        .collect()
}

/// Module path of every `.rs` file below `src` (`api/mod.rs` and `api.rs` are both `api`).
fn module_files(src: &Path) -> BTreeMap<Module, PathBuf> {
    let mut out = BTreeMap::new();
    let mut pending = vec![src.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(src).unwrap_or(&path).with_extension("");
                let mut module: Module = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
                if module.last().is_some_and(|last| ["mod", "lib", "main"].contains(&last.as_str())) {
                    module.pop();
                }
                out.insert(module, path);
            }
        }
    }
    out
}

/// The source with comments, string and char literals blanked (lifetimes kept as they are).
fn strip_comments_and_strings(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let at = |n: usize| chars.get(n).copied();
        match (chars[i], at(i + 1)) {
            ('/', Some('/')) => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            ('/', Some('*')) => {
                let mut depth = 0;
                while i < chars.len() {
                    if chars[i] == '/' && at(i + 1) == Some('*') {
                        depth += 1;
                        i += 2;
                    } else if chars[i] == '*' && at(i + 1) == Some('/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            ('r', Some('"' | '#')) if i == 0 || !chars[i - 1].is_alphanumeric() && chars[i - 1] != '_' => {
                let hashes = chars[i + 1..].iter().take_while(|c| **c == '#').count();
                if chars.get(i + 1 + hashes) != Some(&'"') {
                    out.push(chars[i]);
                    i += 1;
                    continue;
                }
                i += 2 + hashes;
                while i < chars.len() && !(chars[i] == '"' && chars[i + 1..].iter().take(hashes).all(|c| *c == '#')) {
                    i += 1;
                }
                i += 1 + hashes;
                out.push_str("\"\"");
            }
            ('"', _) => {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
                out.push_str("\"\"");
            }
            ('\'', Some(c)) if at(i + 2) == Some('\'') || c == '\\' => {
                i += 1;
                while i < chars.len() && chars[i] != '\'' {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// The text without its `#[cfg(test)] mod <name> { .. }` blocks.
fn without_tests(text: &str) -> String {
    let mut out = text.to_owned();
    while let Some(start) = out.find("#[cfg(test)]") {
        let after = &out[start + "#[cfg(test)]".len()..];
        let trimmed = after.trim_start();
        let is_mod = trimmed.starts_with("mod ") || trimmed.starts_with("pub mod ");
        let Some(open) = after.find('{').filter(|_| is_mod) else {
            out.replace_range(start..start + "#[cfg(test)]".len(), "");
            continue;
        };
        let body_start = start + "#[cfg(test)]".len() + open;
        let mut depth = 0;
        let mut end = out.len();
        for (offset, c) in out[body_start..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = body_start + offset + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.replace_range(start..end, "");
    }
    out
}

/// Every path starting at `crate`, `super` or `self`, with use-groups expanded:
/// `crate::a::{b, c::{d, self}}` gives `crate::a::b`, `crate::a::c::d`, `crate::a::c`.
fn references(text: &str) -> Vec<Vec<String>> {
    let tokens = tokenize(text);
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let starts_path = ["crate", "super", "self"].contains(&tokens[i].as_str())
            && tokens.get(i + 1).is_some_and(|t| t == "::")
            && (i == 0 || tokens[i - 1] != "::");
        if starts_path {
            i = use_tree(&tokens, i, Vec::new(), &mut out);
        } else {
            i += 1;
        }
    }
    out
}

/// Reads one path or use-tree from `tokens[i..]` under `prefix`; returns the index after it.
fn use_tree(tokens: &[String], mut i: usize, mut prefix: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    loop {
        match tokens.get(i).map(String::as_str) {
            Some("{") => {
                i += 1;
                loop {
                    match tokens.get(i).map(String::as_str) {
                        Some("}") => return i + 1,
                        Some(",") => i += 1,
                        Some(_) => i = use_tree(tokens, i, prefix.clone(), out),
                        None => return i,
                    }
                }
            }
            Some(word) if is_identifier(word) => {
                if word != "self" || prefix.is_empty() {
                    prefix.push(word.to_owned());
                }
                i += 1;
                if tokens.get(i).is_some_and(|t| t == "::") {
                    i += 1;
                    continue;
                }
                out.push(prefix);
                return i;
            }
            _ => {
                if !prefix.is_empty() {
                    out.push(prefix);
                }
                return i;
            }
        }
    }
}

fn is_identifier(word: &str) -> bool {
    word.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && word.chars().all(|c| c.is_alphanumeric() || c == '_')
}

/// Identifiers, `::`, and single punctuation characters.
fn tokenize(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if c.is_alphanumeric() || c == '_' {
            let mut end = start + c.len_utf8();
            while let Some((at, next)) = chars.peek().copied() {
                if next.is_alphanumeric() || next == '_' {
                    end = at + next.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            tokens.push(text[start..end].to_owned());
        } else if c == ':' && chars.peek().is_some_and(|(_, n)| *n == ':') {
            chars.next();
            tokens.push("::".to_owned());
        } else if !c.is_whitespace() {
            tokens.push(c.to_string());
        }
    }
    tokens
}

/// The deepest module of the crate that `reference`, read inside `module`, names.
fn resolve<'a>(module: &Module, reference: &[String], modules: &BTreeSet<&'a Module>) -> Option<&'a Module> {
    let (mut base, mut rest): (Module, &[String]) = match reference.first().map(String::as_str) {
        Some("crate") => (Vec::new(), &reference[1..]),
        Some("self") => (module.clone(), &reference[1..]),
        _ => (module.clone(), reference),
    };
    while rest.first().is_some_and(|p| p == "super") {
        base.pop();
        rest = &rest[1..];
    }
    (0..=rest.len())
        .filter_map(|n| {
            let mut candidate = base.clone();
            candidate.extend(rest[..n].iter().cloned());
            modules.get(&candidate).copied()
        })
        .next_back()
}

/// Tarjan's strongly connected components.
fn strongly_connected<'a>(edges: &BTreeMap<&'a Module, BTreeSet<&'a Module>>) -> Vec<Vec<&'a Module>> {
    struct State<'a> {
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on_stack: BTreeSet<&'a Module>,
        out: Vec<Vec<&'a Module>>,
    }
    fn visit<'a>(v: &'a Module, edges: &BTreeMap<&'a Module, BTreeSet<&'a Module>>, s: &mut State<'a>) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in edges.get(v).into_iter().flatten() {
            if !s.index.contains_key(w) {
                visit(w, edges, s);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut ring = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                ring.push(w);
                if w == v {
                    break;
                }
            }
            s.out.push(ring);
        }
    }
    let mut state = State {
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !state.index.contains_key(v) {
            visit(v, edges, &mut state);
        }
    }
    state.out
}
