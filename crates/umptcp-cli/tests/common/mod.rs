//! Helpers the `mptcp` binary's lab tests share.

/// Lowercase hex of `bytes` (as the result lines print SHA-256).
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The value of `"key":` in a flat JSON object (as `--json` prints it),
/// as text without quotes.
pub(crate) fn json_field<'a>(object: &'a str, key: &str) -> &'a str {
    let pattern = format!("\"{key}\":");
    let start = object
        .find(&pattern)
        .unwrap_or_else(|| panic!("no {key}: {object}"))
        + pattern.len();
    let rest = &object[start..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end].trim_matches('"')
}

/// The subflow objects of `--json`'s `subflows` list, each from its
/// `"local"` key on.
#[allow(dead_code)] // not every test binary lists subflows
pub(crate) fn json_subflows(object: &str) -> Vec<&str> {
    let list = &object[object.find("\"subflows\":[").expect("subflows")..];
    list.split("{\"local\"").skip(1).collect()
}
