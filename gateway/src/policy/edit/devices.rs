//! Placing a device: the admin names a device the Devices page shows and puts it in a
//! group. The device becomes (or stays) a `[[pcs]]` entry known by its MAC, so every
//! address it takes later is the same PC.

use std::path::Path;

use toml_edit::{ArrayOfTables, Item, Table, value};

use super::{EditError, read};
use crate::policy::{DEFAULT_GROUP, Policy};

/// A device to name and place.
#[derive(Debug, Clone, Copy)]
pub struct Placement<'a> {
    pub mac: [u8; 6],
    /// The PC the policy lists this device as today (by MAC or by address), if any: that
    /// entry is edited, not a second one added.
    pub listed_as: Option<&'a str>,
    pub name: &'a str,
    /// `None` or `default`: no group (the implicit root, no rules).
    pub group: Option<&'a str>,
}

/// The keys that name a PC in the entries that refer to one.
const PC_REFS: [&str; 3] = ["blocks", "limits", "exceptions"];

/// Names the device and places it in a group: edits the `[[pcs]]` entry it is listed as
/// (setting its MAC if it was listed by address only; a new name is carried into the
/// blocks, limits and exceptions that name the PC), or appends `name, mac, group`.
pub fn place_device(
    dir: &Path,
    list_cache: &Path,
    policy: &Policy,
    p: &Placement<'_>,
) -> Result<(), EditError> {
    let name = p.name.trim();
    if name.is_empty() {
        return Err(EditError::Refused("a PC needs a name".into()));
    }
    let group = p.group.filter(|g| !g.is_empty() && *g != DEFAULT_GROUP);
    if let Some(g) = group
        && !policy.groups().iter().any(|x| x.name == g)
    {
        return Err(EditError::NoSuchGroup(g.to_string()));
    }
    let mac = crate::datapath::mac_text(&p.mac);
    let (editing, mut doc) = read(dir)?;
    let entry = |t: &mut Table| {
        set(t, "name", name);
        set(t, "mac", &mac);
        match group {
            Some(g) => set(t, "group", g),
            None => drop(t.remove("group")),
        };
    };
    let pcs = match doc.get_mut("pcs") {
        Some(Item::ArrayOfTables(a)) => a,
        Some(_) => return Err(EditError::Toml("`pcs` is not an array of tables".into())),
        None => {
            doc.insert("pcs", Item::ArrayOfTables(ArrayOfTables::new()));
            doc["pcs"].as_array_of_tables_mut().expect("just made")
        }
    };
    let listed = p.listed_as.and_then(|old| {
        pcs.iter_mut()
            .find(|t| t.get("name").and_then(|v| v.as_str()) == Some(old))
    });
    let renamed = match listed {
        Some(t) => {
            let old = t.get("name").and_then(|v| v.as_str()).map(String::from);
            entry(t);
            old.filter(|o| o != name)
        }
        None => {
            let mut t = Table::new();
            entry(&mut t);
            pcs.push(t);
            None
        }
    };
    if let Some(old) = renamed {
        for key in PC_REFS {
            if let Some(Item::ArrayOfTables(a)) = doc.get_mut(key) {
                for t in a.iter_mut() {
                    if t.get("pc").and_then(|v| v.as_str()) == Some(old.as_str()) {
                        set(t, "pc", name);
                    }
                }
            }
        }
    }
    editing.commit(dir, list_cache, &doc)
}

/// Sets `key` to `text`, keeping the comment and spacing around a value already there.
fn set(t: &mut Table, key: &str, text: &str) {
    match t.get_mut(key).and_then(|i| i.as_value_mut()) {
        Some(old) => {
            let decor = old.decor().clone();
            *old = text.into();
            *old.decor_mut() = decor;
        }
        None => {
            t.insert(key, value(text));
        }
    }
}
