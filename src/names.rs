//! What counts as a name in lvslab's input: variables, `register` targets, `-e` keys. A leaf
//! that the loaders, the planner and the modules all ask, so none of them imports another for
//! it.

/// A variable name as Ansible (and minijinja) accept it: letters, digits and `_`, not starting
/// with a digit.
pub(crate) fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}
