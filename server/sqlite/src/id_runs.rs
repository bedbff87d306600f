//! Row ids as runs of consecutive values, so marking a batch of rows is one
//! `WHERE id BETWEEN ?1 AND ?2` per run rather than one statement per row.

use store::rusqlite::{Result, Transaction};

/// Runs `sql`, a statement over the rows `WHERE id BETWEEN ?1 AND ?2`, once
/// per run of `ids` ([`id_runs`]): it touches exactly the rows named.
pub(crate) fn execute_over_id_runs(tx: &Transaction<'_>, sql: &str, ids: &[i64]) -> Result<()> {
    let mut stmt = tx.prepare_cached(sql)?;
    for (first, last) in id_runs(ids) {
        stmt.execute([first, last])?;
    }
    Ok(())
}

/// `ids` as runs of consecutive values, `(first, last)` each, ascending,
/// duplicates dropped: `[7, 1, 3, 2, 9, 10]` → `[(1, 3), (7, 7), (9, 10)]`.
/// The runs hold exactly `ids`; a batch read in id order is one run.
pub(crate) fn id_runs(ids: &[i64]) -> Vec<(i64, i64)> {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut runs: Vec<(i64, i64)> = Vec::new();
    for id in sorted {
        match runs.last_mut() {
            Some((_, last)) if last.checked_add(1) == Some(id) => *last = id,
            _ => runs.push((id, id)),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::id_runs;

    #[test]
    fn runs_hold_exactly_the_ids() {
        assert_eq!(id_runs(&[]), []);
        assert_eq!(id_runs(&[5]), [(5, 5)]);
        assert_eq!(id_runs(&[1, 2, 3, 4]), [(1, 4)]);
        assert_eq!(id_runs(&[7, 1, 3, 2, 9, 10, 3]), [(1, 3), (7, 7), (9, 10)]);
        assert_eq!(
            id_runs(&[i64::MAX, i64::MIN, i64::MAX - 1]),
            [(i64::MIN, i64::MIN), (i64::MAX - 1, i64::MAX)]
        );
    }
}
