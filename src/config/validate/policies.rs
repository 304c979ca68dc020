//! `policies`: named session policies.

use super::*;

pub(super) fn policies(c: &mut Collector, entries: &[PolicyEntry]) -> Vec<NamedPolicy> {
    let mut seen = FirstSeen::default();
    let mut out = Vec::new();
    for (i, p) in entries.iter().enumerate() {
        let path = format!("policies[{i}]");
        if p.name.trim().is_empty() {
            c.err(join(&path, "name"), "required");
        } else if let Some(first) = seen.earlier(&p.name, &path) {
            c.err(
                join(&path, "name"),
                format!("duplicate policy name {:?} (also {first})", p.name),
            );
        }
        let doc_path = join(&path, "document");
        let Some(raw) = &p.document else {
            c.err(doc_path, "required");
            continue;
        };
        match PolicyDocument::from_value(raw) {
            Ok(document) => {
                let problems = document.validate_session();
                let ok = problems.is_empty();
                for e in problems {
                    c.err(nest(&doc_path, &e.path), e.message);
                }
                if ok {
                    out.push(NamedPolicy {
                        name: p.name.clone(),
                        document,
                    });
                }
            }
            Err(e) => c.err(nest(&doc_path, &e.path), e.message),
        }
    }
    out
}
