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

    /// Ids of the ancestors, top first (empty at the top level).
    pub fn ancestor_ids(&self) -> Vec<&str> {
        self.id_path.split('/').filter(|s| !s.is_empty()).collect()
    }
}

/// The paths of a group placed under `parent` (`None`: at the top level), where `parent` is
/// `(paths of the parent, parent id, parent name, parent type)`.
pub fn placed_under(parent: Option<(&Paths, &str, &str, &str)>) -> Paths {
    match parent {
        None => Paths::root(),
        Some((paths, id, name, kind)) => paths.child_of(id, name, kind),
    }
}

/// Why a group cannot go where it was asked to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// The new parent is the group itself or one of its descendants.
    Cycle,
    /// The new parent belongs to another tenant.
    OtherTenant,
}

/// Checks that group `id` of `tenant` may be placed under the group `parent_id` of
/// `parent_tenant` whose paths are `parent_paths`.
pub fn check_placement(
    id: &str,
    tenant: &str,
    parent_id: &str,
    parent_tenant: &str,
    parent_paths: &Paths,
) -> Result<(), Placement> {
    if parent_tenant != tenant {
        return Err(Placement::OtherTenant);
    }
    if parent_paths.is_within(parent_id, id) {
        return Err(Placement::Cycle);
    }
    Ok(())
}

/// Something that sits in a tree and can hold its loaded children.
pub trait TreeItem: Sized {
    /// Own id.
    fn item_id(&self) -> &str;
    /// Parent id (`""` at the top level).
    fn item_parent(&self) -> &str;
    /// Stores the loaded children (`[]` = none).
    fn set_children(&mut self, children: Vec<Self>);
}

/// Nests `items` (every node of a subtree below `root_id`, already in sibling order) into the
/// children of `root_id`, recursively: every returned node has its children set (`[]` = none).
/// Items whose parent is not in the set (and is not `root_id`) are dropped.
pub fn nest<T: TreeItem>(root_id: &str, items: Vec<T>) -> Vec<T> {
    let mut by_parent: HashMap<String, Vec<T>> = HashMap::new();
    for item in items {
        by_parent
            .entry(item.item_parent().to_owned())
            .or_default()
            .push(item);
    }
    attach(root_id, &mut by_parent, 0)
}

/// Deepest nesting [`nest`] builds (a guard against corrupt parent links).
const MAX_NEST_DEPTH: usize = 256;

fn attach<T: TreeItem>(
    parent: &str,
    by_parent: &mut HashMap<String, Vec<T>>,
    depth: usize,
) -> Vec<T> {
    let mut children = by_parent.remove(parent).unwrap_or_default();
    for child in &mut children {
        let below = if depth < MAX_NEST_DEPTH {
            attach(child.item_id(), by_parent, depth + 1)
        } else {
            Vec::new()
        };
        child.set_children(below);
    }
    children
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

    #[derive(Debug)]
    struct Item {
        id: &'static str,
        parent: &'static str,
        children: Option<Vec<Item>>,
    }

    impl TreeItem for Item {
        fn item_id(&self) -> &str {
            self.id
        }
        fn item_parent(&self) -> &str {
            self.parent
        }
        fn set_children(&mut self, children: Vec<Self>) {
            self.children = Some(children);
        }
    }

    fn shape(items: &[Item]) -> String {
        items
            .iter()
            .map(|i| match &i.children {
                None => format!("{}?", i.id),
                Some(c) if c.is_empty() => i.id.to_string(),
                Some(c) => format!("{}({})", i.id, shape(c)),
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    #[test]
    fn nesting_keeps_sibling_order_and_marks_leaves() {
        let item = |id, parent| Item {
            id,
            parent,
            children: None,
        };
        let items = vec![
            item("b", "a"),
            item("z", ""),
            item("c", "b"),
            item("d", "a"),
            item("a", ""),
        ];
        assert_eq!(shape(&nest("", items)), "z,a(b(c),d)");
        let items = vec![item("c", "b"), item("d", "a")];
        assert_eq!(shape(&nest("b", items)), "c");
    }

    #[test]
    fn placement_refuses_cycles_and_other_tenants() {
        let a = Paths::root();
        let b = a.child_of("a", "A", "dept");
        let c = b.child_of("b", "B", "dept");
        assert_eq!(
            check_placement("b", "t", "c", "t", &c),
            Err(Placement::Cycle)
        );
        assert_eq!(
            check_placement("b", "t", "b", "t", &b),
            Err(Placement::Cycle)
        );
        assert_eq!(check_placement("c", "t", "a", "t", &a), Ok(()));
        assert_eq!(
            check_placement("c", "t", "a", "u", &a),
            Err(Placement::OtherTenant)
        );
        assert_eq!(c.ancestor_ids(), ["a", "b"]);
        assert!(a.ancestor_ids().is_empty());
        let placed = placed_under(Some((&b, "b", "B", "team")));
        assert_eq!(placed.id_path, "/a/b/");
        assert_eq!(placed.type_path, "/dept/team/");
        assert_eq!(placed_under(None), Paths::root());
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
