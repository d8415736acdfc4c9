//! A small unified diff of two texts, line by line (longest common subsequence; fine for
//! files of a few hundred lines such as `pacman.conf`). Pure.

/// One line of the edit script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Same(usize, usize),
    Del(usize),
    Add(usize),
}

fn script(a: &[&str], b: &[&str]) -> Vec<Op> {
    // lcs[i][j]: length of the LCS of a[i..] and b[j..].
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut ops) = (0, 0, Vec::new());
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push(Op::Same(i, j));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            ops.push(Op::Add(j));
            j += 1;
        } else {
            ops.push(Op::Del(i));
            i += 1;
        }
    }
    // Within each run of changes, deletions first (as diff(1) shows them); taking
    // insertions first on ties above keeps an inserted block in one piece.
    let mut k = 0;
    while k < ops.len() {
        let end = (k..ops.len())
            .find(|&e| matches!(ops[e], Op::Same(..)))
            .unwrap_or(ops.len());
        ops[k..end].sort_by_key(|o| matches!(o, Op::Add(_)));
        k = end + 1;
    }
    ops
}

fn show(out: &mut String, sign: char, line: &str) {
    out.push(sign);
    match line.strip_suffix('\n') {
        Some(l) => {
            out.push_str(l.strip_suffix('\r').unwrap_or(l));
            out.push('\n');
        }
        None => {
            out.push_str(line);
            out.push_str("\n\\ No newline at end of file\n");
        }
    }
}

/// The unified diff (3 lines of context) from `old` to `new`, with the `---`/`+++` labels;
/// empty when they are equal.
pub fn unified(old: &str, new: &str, old_label: &str, new_label: &str) -> String {
    if old == new {
        return String::new();
    }
    let a: Vec<&str> = old.split_inclusive('\n').collect();
    let b: Vec<&str> = new.split_inclusive('\n').collect();
    let ops = script(&a, &b);
    const CONTEXT: usize = 3;
    let changed: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, o)| !matches!(o, Op::Same(..)))
        .map(|(k, _)| k)
        .collect();
    // Group changes whose context overlaps into hunks of op indexes [start, end).
    let mut hunks: Vec<(usize, usize)> = Vec::new();
    for &k in &changed {
        let start = k.saturating_sub(CONTEXT);
        let end = (k + CONTEXT + 1).min(ops.len());
        match hunks.last_mut() {
            Some(h) if start <= h.1 => h.1 = end,
            _ => hunks.push((start, end)),
        }
    }
    let mut out = format!("--- {old_label}\n+++ {new_label}\n");
    for (s, e) in hunks {
        let (mut a0, mut b0, mut an, mut bn) = (None, None, 0, 0);
        for op in &ops[s..e] {
            match *op {
                Op::Same(i, j) => {
                    a0.get_or_insert(i);
                    b0.get_or_insert(j);
                    an += 1;
                    bn += 1;
                }
                Op::Del(i) => {
                    a0.get_or_insert(i);
                    an += 1;
                }
                Op::Add(j) => {
                    b0.get_or_insert(j);
                    bn += 1;
                }
            }
        }
        // Where a side has no line in the hunk, its position is the line before it.
        let pos = |first: Option<usize>, count: usize, before: usize| match first {
            Some(f) if count > 0 => f + 1,
            _ => before,
        };
        let a_before = ops[..s]
            .iter()
            .filter(|o| matches!(o, Op::Same(..) | Op::Del(_)))
            .count();
        let b_before = ops[..s]
            .iter()
            .filter(|o| matches!(o, Op::Same(..) | Op::Add(_)))
            .count();
        out.push_str(&format!(
            "@@ -{},{an} +{},{bn} @@\n",
            pos(a0, an, a_before),
            pos(b0, bn, b_before)
        ));
        for op in &ops[s..e] {
            match *op {
                Op::Same(i, _) => show(&mut out, ' ', a[i]),
                Op::Del(i) => show(&mut out, '-', a[i]),
                Op::Add(j) => show(&mut out, '+', b[j]),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_have_no_diff() {
        assert_eq!(unified("a\n", "a\n", "a", "b"), "");
    }

    #[test]
    fn shows_insertions_and_changes_with_context() {
        let old = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n";
        let new = "1\n2\n3\n4\nnew\n5\n6\n7\n8\n9\nten\n";
        assert_eq!(
            unified(old, new, "a/f", "b/f"),
            "--- a/f\n+++ b/f\n@@ -2,9 +2,10 @@\n 2\n 3\n 4\n+new\n 5\n 6\n 7\n 8\n 9\n-10\n+ten\n"
        );
    }

    #[test]
    fn separates_distant_changes_into_hunks() {
        let old: String = (1..=20).map(|i| format!("{i}\n")).collect();
        let new = old.replace("\n2\n", "\ntwo\n").replace("19\n", "");
        assert_eq!(
            unified(&old, &new, "a", "b"),
            "--- a\n+++ b\n@@ -1,5 +1,5 @@\n 1\n-2\n+two\n 3\n 4\n 5\n\
             @@ -16,5 +16,4 @@\n 16\n 17\n 18\n-19\n 20\n"
        );
    }

    #[test]
    fn marks_a_missing_final_newline() {
        assert_eq!(
            unified("a", "a\nb\n", "x", "y"),
            "--- x\n+++ y\n@@ -1,1 +1,2 @@\n-a\n\\ No newline at end of file\n+a\n+b\n"
        );
        assert_eq!(
            unified("", "a\n", "x", "y"),
            "--- x\n+++ y\n@@ -0,0 +1,1 @@\n+a\n"
        );
    }
}
