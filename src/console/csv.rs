//! CSV downloads: every cell through [`csv_cell`], which defuses formulas.

use crate::untrusted::csv_cell;

/// One CSV line (with its line break) of `cells`.
pub(super) fn csv_line<'a>(cells: impl IntoIterator<Item = &'a str>) -> String {
    let mut line = cells
        .into_iter()
        .map(csv_cell)
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_defuse_each_cell() {
        assert_eq!(csv_line(["a", "=b", "c,d"]), "a,'=b,\"c,d\"\r\n");
    }
}
