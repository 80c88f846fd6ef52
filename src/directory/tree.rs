//! Group tree paths. Every group stores its ancestors as three paths: ids, names and types
//! (`/` at the top level, `/a/b/` for a child of `b` under `a`). A subtree is then one prefix
//! query, and moving or renaming a group recomputes the paths of its subtree here.

use std::collections::HashMap;

/// The three ancestor paths of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub id_path: String,
    pub name_path: String,
    pub type_path: String,
}

impl Paths {
    /// The paths of a top-level group.
    pub fn root() -> Self {
        Self {
            id_path: "/".into(),
            name_path: "/".into(),
            type_path: "/".into(),
        }
    }

    /// The paths of a child of the group `(id, name, type)` that has these paths.
    pub fn child_of(&self, id: &str, name: &str, kind: &str) -> Self {
        Self {
            id_path: format!("{}{id}/", self.id_path),
            name_path: format!("{}{name}/", self.name_path),
            type_path: format!("{}{kind}/", self.type_path),
        }
    }

    /// Prefix shared by the `id_path` of every group below `id` (which has these paths).
    pub fn subtree_prefix(&self, id: &str) -> String {
        format!("{}{id}/", self.id_path)
    }

    /// Whether the group with these paths is `id` or lies below it: moving `id` under it would
    /// make a cycle.
    pub fn is_within(&self, own_id: &str, id: &str) -> bool {
        own_id == id || self.id_path.contains(&format!("/{id}/"))
    }
}

/// A group as the path computation needs it.
#[derive(Debug, Clone)]
pub struct Node {
    pub id: String,
    pub parent_id: String,
    pub name: String,
    pub kind: String,
}

/// New paths of every node of a subtree whose root (`root`) now has `root_paths`.
/// `below` are the other nodes of the subtree, in any order.
pub fn recompute(root: &Node, root_paths: &Paths, below: &[Node]) -> Vec<(String, Paths)> {
    let mut children: HashMap<&str, Vec<&Node>> = HashMap::new();
    for n in below {
        children.entry(n.parent_id.as_str()).or_default().push(n);
    }
    let mut out = vec![(root.id.clone(), root_paths.clone())];
    let mut stack = vec![(root, root_paths.clone())];
    while let Some((node, paths)) = stack.pop() {
        for child in children.get(node.id.as_str()).into_iter().flatten() {
            let p = paths.child_of(&node.id, &node.name, &node.kind);
            out.push((child.id.clone(), p.clone()));
            stack.push((child, p));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, parent: &str, name: &str) -> Node {
        Node {
            id: id.into(),
            parent_id: parent.into(),
            name: name.into(),
            kind: "dept".into(),
        }
    }

    #[test]
    fn child_paths_append_the_parent() {
        let a = Paths::root();
        assert_eq!(a.id_path, "/");
        let b = a.child_of("a", "A", "dept");
        assert_eq!(b.id_path, "/a/");
        assert_eq!(b.name_path, "/A/");
        assert_eq!(b.type_path, "/dept/");
        let c = b.child_of("b", "B", "team");
        assert_eq!(c.id_path, "/a/b/");
        assert_eq!(c.type_path, "/dept/team/");
        assert!(c.is_within("c", "a"));
        assert!(c.is_within("c", "c"));
        assert!(!c.is_within("c", "x"));
    }

    #[test]
    fn moving_recomputes_the_whole_subtree() {
        // a ─ b ─ c, b ─ d; move b under x (paths /x/)
        let b = node("b", "x", "B");
        let below = [
            node("c", "b", "C"),
            node("d", "b", "D"),
            node("e", "c", "E"),
        ];
        let new_b = Paths::root().child_of("x", "X", "dept");
        let mut out = recompute(&b, &new_b, &below);
        out.sort_by(|l, r| l.0.cmp(&r.0));
        let ids: Vec<(&str, &str, &str)> = out
            .iter()
            .map(|(id, p)| (id.as_str(), p.id_path.as_str(), p.name_path.as_str()))
            .collect();
        assert_eq!(
            ids,
            [
                ("b", "/x/", "/X/"),
                ("c", "/x/b/", "/X/B/"),
                ("d", "/x/b/", "/X/B/"),
                ("e", "/x/b/c/", "/X/B/C/"),
            ]
        );
    }
}
