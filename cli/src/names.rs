//! Matching secret names: prefixes at a segment boundary (`exec --prefix`, `env`,
//! `list PREFIX`), `*` patterns (`get 'a/*'`, `list 'a*'`), and the closest
//! existing names for one that was not found ("did you mean").

/// What separates the segments of a name: `prod/app/db.user`, `prod.app.db`.
pub const SEPARATORS: [char; 2] = ['/', '.'];

/// The rest of `name` under `prefix`, matched at a segment boundary. A prefix
/// ending in a letter or digit names a whole segment: `prod/app` takes
/// `prod/app/db.user` and `prod/app.db` (rest `db.user`, `db`; the separator is
/// dropped) but never `prod/apple/x` or `prod/app-staging/x`. A prefix ending in
/// any other character (`prod/app/`, `svc-`) is matched as it is written. `None`
/// when `name` is not under `prefix`, or nothing is left of it.
pub fn under<'a>(prefix: &str, name: &'a str) -> Option<&'a str> {
    let rest = name.strip_prefix(prefix)?;
    let whole_segment = prefix
        .chars()
        .next_back()
        .is_some_and(char::is_alphanumeric);
    let rest = if whole_segment {
        rest.strip_prefix(SEPARATORS)?
    } else {
        rest
    };
    (!rest.is_empty()).then_some(rest)
}

/// `*` matches any run of characters; everything else matches itself (credstash
/// compiles the pattern as an unescaped regex, so its `.` matches anything): the
/// SDK's [`NamePattern`](lockbox::lifecycle::NamePattern), which the lifecycle
/// commands' name selection uses too.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    lockbox::lifecycle::NamePattern::new(pattern).matches(text)
}

/// A name filter as `list`, `keys` and `find` take it: with `*`, a pattern
/// ([`wildcard_match`]); without, the name itself or a prefix at a segment
/// boundary ([`under`]).
pub fn selects(filter: &str, name: &str) -> bool {
    if filter.contains('*') {
        wildcard_match(filter, name)
    } else {
        name == filter || under(filter, name).is_some()
    }
}

/// The existing names closest to `wanted`, best first (at most three): the same
/// name in another letter case, with or without a leading `/`, then names within
/// a small edit distance. Empty when nothing is close.
pub fn closest<'a>(wanted: &str, names: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let folded = wanted.to_lowercase();
    let bare = folded.trim_start_matches('/');
    // Short names get fewer edits, or everything would be "close".
    let budget = match wanted.chars().count() {
        0..=3 => 1,
        4..=7 => 2,
        _ => 3,
    };
    let mut scored: Vec<(usize, &str)> = names
        .into_iter()
        .filter(|n| *n != wanted)
        .filter_map(|n| {
            let lower = n.to_lowercase();
            if lower == folded || lower.trim_start_matches('/') == bare {
                return Some((0, n));
            }
            let d = strsim::damerau_levenshtein(&folded, &lower);
            (d <= budget).then_some((d, n))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, n)| n).collect()
}

/// "did you mean `a` or `b`?", or `None` when there is nothing to suggest.
pub fn did_you_mean(candidates: &[&str]) -> Option<String> {
    let shown: Vec<String> = candidates
        .iter()
        .map(|c| format!("`{}`", lockbox::escape_untrusted(c)))
        .collect();
    match shown.as_slice() {
        [] => None,
        [one] => Some(format!("did you mean {one}?")),
        [init @ .., last] => Some(format!("did you mean {} or {last}?", init.join(", "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_at_a_segment_boundary() {
        assert_eq!(under("prod/app", "prod/app/db.user"), Some("db.user"));
        assert_eq!(under("prod/app/", "prod/app/db.user"), Some("db.user"));
        assert_eq!(under("prod/app", "prod/app.db"), Some("db"));
        assert_eq!(under("prod/app", "prod/apple/x"), None);
        assert_eq!(under("prod/app", "prod/app-staging/x"), None);
        assert_eq!(under("prod/app", "prod/app"), None);
        assert_eq!(under("prod/app/", "prod/app/"), None);
        assert_eq!(under("svc-", "svc-token"), Some("token"));
        assert_eq!(under("prod", "prod/api/token"), Some("api/token"));
    }

    #[test]
    fn wildcards() {
        let m = wildcard_match;
        assert!(m("a*", "abc"));
        assert!(m("*c", "abc"));
        assert!(m("a*c", "abc"));
        assert!(m("a*c", "ac"));
        assert!(!m("a*c", "abcd"));
        assert!(m("*", ""));
        assert!(m("a*b*c", "aXbYc"));
        assert!(!m("a*b*c", "acb"));
        assert!(!m("ab*ba", "aba"));
        assert!(m("db.*", "db.password"));
        assert!(!m("db.*", "dbXpassword"));
        assert!(m("x+(*", "x+(y"));
    }

    #[test]
    fn filters_take_patterns_or_prefixes() {
        assert!(selects("staging/*", "staging/db"));
        assert!(selects("staging", "staging/db"));
        assert!(selects("staging/", "staging/db"));
        assert!(selects("staging/db", "staging/db"));
        assert!(!selects("staging", "staging2/db"));
    }

    #[test]
    fn closest_names() {
        let names = ["db.password", "DB.USER", "/prod/app/x", "api.token", "a"];
        assert_eq!(closest("db.pasword", names), ["db.password"]);
        assert_eq!(closest("DB.PASSWORD", names), ["db.password"]);
        assert_eq!(closest("prod/app/x", names), ["/prod/app/x"]);
        assert_eq!(closest("db.user", names), ["DB.USER"]);
        assert!(closest("zzzzzzzz", names).is_empty());
        assert!(closest("b", ["a"]).len() == 1);
        assert_eq!(
            did_you_mean(&["a", "b"]).unwrap(),
            "did you mean `a` or `b`?"
        );
        assert_eq!(did_you_mean(&[]), None);
    }
}
