//! The list files and URL lists a policy names, compiled through `crate::lists`' cache.

use std::path::Path;

use super::{Ctx, LoadReport};
use crate::{
    lists::{self, UrlSource, compiled},
    policy::{compiled::NamedList, model::ListDef},
};

pub(super) fn load_lists(
    dir: &Path,
    defs: &std::collections::BTreeMap<String, ListDef>,
    cx: &mut Ctx,
    report: &mut LoadReport,
) -> Vec<NamedList> {
    let mut out = Vec::new();
    for (name, def) in defs {
        let mut files = Vec::new();
        let mut resolve_names = Vec::new();
        for f in &def.files {
            let path = dir.join(f.get_ref());
            if def.resolve {
                // Kept only for lists marked `resolve` (small ones: bypass endpoints); the
                // matcher itself holds hashes, not names.
                if let Ok(text) = std::fs::read_to_string(&path) {
                    lists::parse_list(&text, |_, allow, rule| {
                        if let (false, lists::Rule::Name(n)) = (allow, rule) {
                            resolve_names.push(n);
                        }
                    });
                }
            }
            match compiled(&path, cx.compiled) {
                Ok(list) => {
                    report.files.push((path.clone(), list.stats.clone()));
                    files.push((path, list));
                }
                Err(e) => cx.err(
                    f,
                    format!("list `{name}`: cannot read {}: {e}", path.display()),
                ),
            }
        }
        for u in &def.urls {
            let url = u.get_ref();
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                cx.err(u, format!("list `{name}`: `{url}` is not an http(s) URL"));
                continue;
            }
            let Some(cache) = &cx.list_cache else {
                continue;
            };
            let source = UrlSource::new(name, url, cache, def.refresh_hours);
            let copy = source.copy.clone();
            report.urls.push(source);
            // Not downloaded yet: the list starts without this source; the daemon
            // reloads once the download lands.
            if let Ok(list) = compiled(&copy, cx.compiled) {
                report.files.push((copy.clone(), list.stats.clone()));
                files.push((copy, list));
            }
        }
        out.push(NamedList {
            name: name.clone(),
            description: def.description.clone(),
            files,
            resolve_names,
        });
    }
    out
}
