//! IAM wildcard matching: `*` matches any run of characters, `?` exactly one; iterative, no regex.

/// One element of a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Token {
    /// `*`
    Any,
    /// `?`
    One,
    Literal(char),
}

/// A pattern the matcher can walk by position, so a plain `&str` needs no conversion.
pub(crate) trait Pattern {
    /// The token at `pos` and the position after it, or `None` at the end.
    fn token_at(&self, pos: usize) -> Option<(Token, usize)>;
}

impl Pattern for str {
    fn token_at(&self, pos: usize) -> Option<(Token, usize)> {
        let c = self.get(pos..)?.chars().next()?;
        let token = match c {
            '*' => Token::Any,
            '?' => Token::One,
            c => Token::Literal(c),
        };
        Some((token, pos + c.len_utf8()))
    }
}

impl Pattern for [Token] {
    fn token_at(&self, pos: usize) -> Option<(Token, usize)> {
        self.get(pos).map(|token| (*token, pos + 1))
    }
}

/// Whether `text` matches the wildcard `pattern`.
pub fn matches(pattern: &str, text: &str, ignore_case: bool) -> bool {
    matches_pattern(pattern, text, ignore_case)
}

fn char_at(text: &str, pos: usize) -> Option<(char, usize)> {
    let c = text.get(pos..)?.chars().next()?;
    Some((c, pos + c.len_utf8()))
}

fn chars_equal(a: char, b: char, ignore_case: bool) -> bool {
    a == b || (ignore_case && a.to_lowercase().eq(b.to_lowercase()))
}

/// Greedy matching that, on a mismatch, backtracks only to the most recent `*`: linear in
/// practice and never recursive, so hostile patterns cannot blow the stack.
pub(crate) fn matches_pattern<P: Pattern + ?Sized>(
    pattern: &P,
    text: &str,
    ignore_case: bool,
) -> bool {
    let mut p = 0;
    let mut t = 0;
    // (pattern position after the last `*`, text position that `*` currently extends to)
    let mut backtrack: Option<(usize, usize)> = None;
    loop {
        let text_char = char_at(text, t);
        if let Some((token, p_next)) = pattern.token_at(p) {
            match (token, text_char) {
                (Token::Any, _) => {
                    backtrack = Some((p_next, t));
                    p = p_next;
                    continue;
                }
                (Token::One, Some((_, t_next))) => {
                    p = p_next;
                    t = t_next;
                    continue;
                }
                (Token::Literal(expected), Some((actual, t_next)))
                    if chars_equal(expected, actual, ignore_case) =>
                {
                    p = p_next;
                    t = t_next;
                    continue;
                }
                _ => {}
            }
        } else if text_char.is_none() {
            return true;
        }
        // Mismatch: let the last `*` swallow one more character and retry after it.
        match backtrack {
            Some((star_next, star_t)) => match char_at(text, star_t) {
                Some((_, swallowed)) => {
                    backtrack = Some((star_next, swallowed));
                    p = star_next;
                    t = swallowed;
                }
                None => return false,
            },
            None => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Straightforward recursive definition, used as the oracle for the iterative matcher.
    fn reference(pattern: &[char], text: &[char]) -> bool {
        match pattern.split_first() {
            None => text.is_empty(),
            Some(('*', rest)) => (0..=text.len()).any(|skip| reference(rest, &text[skip..])),
            Some(('?', rest)) => !text.is_empty() && reference(rest, &text[1..]),
            Some((c, rest)) => text.first() == Some(c) && reference(rest, &text[1..]),
        }
    }

    #[test]
    fn examples() {
        assert!(matches("sts:*", "sts:AssumeRoleWithWebIdentity", false));
        assert!(matches("sts:AssumeRole*", "sts:AssumeRole", false));
        assert!(matches("*", "", false));
        assert!(matches("", "", false));
        assert!(!matches("", "a", false));
        assert!(!matches("a", "", false));
        assert!(matches("a?c", "abc", false));
        assert!(!matches("a?c", "ac", false));
        assert!(matches("*b*b*", "abxxbyy", false));
        assert!(!matches("*b*b*", "abxx", false));
        assert!(matches(
            "system:serviceaccount:default:*",
            "system:serviceaccount:default:my-app",
            false
        ));
        assert!(!matches(
            "system:serviceaccount:default:*",
            "system:serviceaccount:kube-system:my-app",
            false
        ));
        assert!(
            matches("?", "é", false),
            "? matches one character, not one byte"
        );
        assert!(matches("a*é", "abcé", false));
    }

    #[test]
    fn case_folding_is_opt_in() {
        assert!(matches(
            "STS:assumerole*",
            "sts:AssumeRoleWithWebIdentity",
            true
        ));
        assert!(!matches(
            "STS:assumerole*",
            "sts:AssumeRoleWithWebIdentity",
            false
        ));
        assert!(matches("ÉTÉ", "été", true));
    }

    #[test]
    fn tokens_keep_literal_wildcards_literal() {
        let tokens = [Token::Literal('a'), Token::Literal('*'), Token::Any];
        assert!(matches_pattern(&tokens[..], "a*xyz", false));
        assert!(!matches_pattern(&tokens[..], "abxyz", false));
    }

    #[test]
    fn many_stars_stay_fast() {
        let pattern = "*a".repeat(200) + "b";
        let text = "a".repeat(5000);
        assert!(!matches(&pattern, &text, false));
    }

    proptest! {
        #[test]
        fn a_pattern_matches_itself(text in "[a-c*?:/]{0,20}") {
            prop_assert!(matches(&text, &text, false));
        }

        #[test]
        fn star_matches_everything(text in "\\PC{0,40}") {
            prop_assert!(matches("*", &text, false));
            prop_assert!(matches("**", &text, false));
        }

        #[test]
        fn literal_patterns_match_only_themselves(pattern in "[a-d:/é]{0,12}", text in "[a-d:/é]{0,12}") {
            prop_assert_eq!(matches(&pattern, &text, false), pattern == text);
        }

        #[test]
        fn agrees_with_the_recursive_definition(pattern in "[ab*?]{0,10}", text in "[ab]{0,12}") {
            let p: Vec<char> = pattern.chars().collect();
            let t: Vec<char> = text.chars().collect();
            prop_assert_eq!(matches(&pattern, &text, false), reference(&p, &t));
        }

        #[test]
        fn prefix_star_matches_any_suffix(prefix in "[a-z:]{0,10}", suffix in "\\PC{0,20}") {
            let pattern = format!("{prefix}*");
            let text = format!("{prefix}{suffix}");
            prop_assert!(matches(&pattern, &text, false));
        }

        #[test]
        fn ignoring_case_matches_the_uppercased_text(text in "[a-zA-Z:*?]{0,20}") {
            prop_assert!(matches(&text, &text.to_uppercase(), true));
        }
    }
}
