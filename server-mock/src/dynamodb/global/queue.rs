//! The copies of global-table writes on their way to other regions: one queue per
//! destination region, ordered by due time, so that delivering the copies that are
//! due costs a look at each region's first copy, not a scan of the backlog.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use super::Change;

/// Copies waiting for their due time, by destination region.
#[derive(Debug, Default)]
pub(super) struct Queue {
    /// Region → (due, stamp) → copy. The stamp (unique to a write) keeps copies
    /// due at the same instant apart, in the order they were written.
    regions: BTreeMap<String, BTreeMap<(Instant, u64), Change>>,
    /// (Region, stamp) → due: where a copy is, to take it out when another
    /// emulator or the journal says it arrived.
    due: HashMap<(String, u64), Instant>,
}

/// A copy taken out of the queue to apply.
#[derive(Debug)]
pub(super) struct Pending {
    pub due: Instant,
    pub to: String,
    pub change: Change,
}

impl Queue {
    /// How many copies are queued.
    pub fn len(&self) -> usize {
        self.due.len()
    }

    /// Queues `change` for `to`, due at `due` (replacing a copy of the same
    /// write queued for `to` before).
    pub fn push(&mut self, to: &str, due: Instant, change: Change) {
        let stamp = change.stamp;
        self.remove(to, stamp);
        self.regions
            .entry(to.to_owned())
            .or_default()
            .insert((due, stamp), change);
        self.due.insert((to.to_owned(), stamp), due);
    }

    /// Takes out the copy of the write `stamp` queued for `to`, if any.
    pub fn remove(&mut self, to: &str, stamp: u64) {
        let Some(due) = self.due.remove(&(to.to_owned(), stamp)) else {
            return;
        };
        if let Some(copies) = self.regions.get_mut(to) {
            copies.remove(&(due, stamp));
            if copies.is_empty() {
                self.regions.remove(to);
            }
        }
    }

    /// Every queued copy: (destination, due, copy).
    pub fn iter(&self) -> impl Iterator<Item = (&str, Instant, &Change)> {
        self.regions.iter().flat_map(|(to, copies)| {
            copies
                .iter()
                .map(move |((due, _), c)| (to.as_str(), *due, c))
        })
    }

    /// Puts back a copy taken out by [`Queue::take_due`] (its delivery failed).
    pub fn put_back(&mut self, p: Pending) {
        self.push(&p.to, p.due, p.change);
    }

    /// Takes out the copies due at `now` (every copy when `now` is `None`) for the
    /// regions `open` lets through, ordered by due time.
    pub fn take_due(&mut self, now: Option<Instant>, open: impl Fn(&str) -> bool) -> Vec<Pending> {
        let mut out = Vec::new();
        for (to, copies) in &mut self.regions {
            if !open(to) {
                continue;
            }
            while let Some(first) = copies.first_entry() {
                if now.is_some_and(|now| first.key().0 > now) {
                    break;
                }
                let ((due, stamp), change) = first.remove_entry();
                self.due.remove(&(to.clone(), stamp));
                out.push(Pending {
                    due,
                    to: to.clone(),
                    change,
                });
            }
        }
        self.regions.retain(|_, copies| !copies.is_empty());
        out.sort_by_key(|p| p.due);
        out
    }

    /// Queues for `to` as well every copy of `table` queued for `from`, with its
    /// due time: `to` is a new replica made as a copy of `from`'s table, and must
    /// receive what `from` has yet to receive.
    pub fn also_for(&mut self, table: &str, from: &str, to: &str) {
        let copies: Vec<(Instant, Change)> = self
            .regions
            .get(from)
            .into_iter()
            .flat_map(|copies| copies.iter())
            .filter(|(_, c)| c.table == table)
            .map(|((due, _), c)| (*due, c.clone()))
            .collect();
        for (due, change) in copies {
            self.push(to, due, change);
        }
    }

    /// Drops the copies of `table` queued for `to` (its replica there is gone).
    pub fn drop_for(&mut self, table: &str, to: &str) {
        let gone: Vec<u64> = self
            .regions
            .get(to)
            .into_iter()
            .flat_map(|copies| copies.values())
            .filter(|c| c.table == table)
            .map(|c| c.stamp)
            .collect();
        for stamp in gone {
            self.remove(to, stamp);
        }
    }

    /// Drops every copy.
    pub fn clear(&mut self) {
        self.regions.clear();
        self.due.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn change(table: &str, n: u64) -> Change {
        Change {
            table: table.to_owned(),
            record: serde_json::json!({"op": "put", "n": n}),
            stamp: n,
        }
    }

    fn stamps(p: &[Pending]) -> Vec<(String, u64)> {
        p.iter().map(|p| (p.to.clone(), p.change.stamp)).collect()
    }

    #[test]
    fn takes_what_is_due_in_due_order_and_leaves_the_rest() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut q = Queue::default();
        q.push("eu-west-1", at(30), change("t", 1));
        q.push("eu-west-1", at(10), change("t", 2));
        q.push("ap-south-1", at(20), change("t", 3));
        q.push("eu-west-1", at(10), change("t", 4));
        q.push("eu-west-1", at(50), change("t", 5));
        assert_eq!(q.len(), 5);
        let due = q.take_due(Some(at(30)), |_| true);
        assert_eq!(
            stamps(&due),
            [
                ("eu-west-1".to_owned(), 2),
                ("eu-west-1".to_owned(), 4),
                ("ap-south-1".to_owned(), 3),
                ("eu-west-1".to_owned(), 1),
            ]
        );
        assert_eq!(q.len(), 1);
        assert!(q.take_due(Some(at(49)), |_| true).is_empty());
        assert_eq!(
            stamps(&q.take_due(None, |_| true)),
            [("eu-west-1".to_owned(), 5)]
        );
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn a_closed_region_keeps_its_copies_and_others_are_delivered() {
        let t0 = Instant::now();
        let mut q = Queue::default();
        q.push("eu-west-1", t0, change("t", 1));
        q.push("ap-south-1", t0, change("t", 2));
        let due = q.take_due(None, |r| r != "eu-west-1");
        assert_eq!(stamps(&due), [("ap-south-1".to_owned(), 2)]);
        assert_eq!(q.len(), 1);
        let p = q.take_due(None, |_| true).pop().unwrap();
        q.put_back(p);
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn a_new_replica_inherits_the_copies_of_its_source_and_a_gone_one_drops_them() {
        let t0 = Instant::now();
        let mut q = Queue::default();
        q.push("us-east-1", t0, change("t", 1));
        q.push("us-east-1", t0, change("other", 2));
        q.push("eu-west-1", t0, change("t", 3));
        q.also_for("t", "us-east-1", "ap-south-1");
        assert_eq!(q.len(), 4);
        q.drop_for("t", "eu-west-1");
        assert_eq!(q.len(), 3);
        let mut all = stamps(&q.take_due(None, |_| true));
        all.sort();
        assert_eq!(
            all,
            [
                ("ap-south-1".to_owned(), 1),
                ("us-east-1".to_owned(), 1),
                ("us-east-1".to_owned(), 2),
            ]
        );
        q.push("us-east-1", t0, change("t", 4));
        q.clear();
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn a_copy_taken_out_by_its_stamp_is_gone_and_others_stay() {
        let t0 = Instant::now();
        let mut q = Queue::default();
        q.push("eu-west-1", t0, change("t", 1));
        q.push("eu-west-1", t0, change("t", 2));
        q.push("ap-south-1", t0, change("t", 1));
        q.remove("eu-west-1", 1);
        q.remove("eu-west-1", 9);
        assert_eq!(q.len(), 2);
        // Queued again for the same region: replaced, not doubled.
        q.push("eu-west-1", t0 + Duration::from_millis(5), change("t", 2));
        assert_eq!(q.len(), 2);
        let mut all = stamps(&q.take_due(None, |_| true));
        all.sort();
        assert_eq!(
            all,
            [("ap-south-1".to_owned(), 1), ("eu-west-1".to_owned(), 2)]
        );
    }
}
