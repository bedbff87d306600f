//! Hold, claim and finish of one voucher: conditional transitions retried
//! on fresh reads.

use mediator_core::datacache::{Finish, VoucherRecord};
use mediator_core::storage::StoreError;
use mediator_core::{OverrideMode, VoucherStatus};

use super::*;
use crate::dynamo::{ms_time, n, s, DynamoStore};

/// What the hold-or-claim core did.
pub(super) enum Attempted {
    Held,
    CircuitClosed,
    Claimed(i64, Box<VoucherRecord>),
    NotHoldable(Option<VoucherStatus>),
}

impl DynamoStore {
    /// Hold, or with `claim` = `Some(detail)` claim when the circuit is
    /// closed: the shared core of `hold_if_open` and `hold_or_claim_many`.
    pub(super) async fn hold_or_claim(
        &self,
        id: &str,
        claim: Option<&str>,
        now: i64,
        until: i64,
    ) -> Result<Attempted, StoreError> {
        for round in 0..ROUNDS {
            backoff(round).await;
            let guess = round == 0;
            let (k, k_guessed) = match self.recall(id).filter(|_| guess) {
                Some(k) => (k, true),
                None => match self.read_voucher(id).await? {
                    Some(k) => (k, false),
                    None => return Ok(Attempted::NotHoldable(None)),
                },
            };
            let st = k.rec.status;
            let holdable = matches!(st, VoucherStatus::Received | VoucherStatus::Retry)
                || (st == VoucherStatus::Submitting && k.lease.unwrap_or(0) < now);
            if !holdable {
                if k_guessed {
                    continue;
                }
                return Ok(Attempted::NotHoldable(Some(st)));
            }
            let part = k.rec.part.clone();
            let known_circuit = guess
                .then(|| {
                    self.vouchers
                        .circuits
                        .lock()
                        .expect("circuit memory")
                        .get(&part)
                        .cloned()
                })
                .flatten();
            let (c, c_guessed) = match known_circuit {
                Some(c) => (c, true),
                None => (self.read_circuit(&part).await?, false),
            };
            let cond = "ver = :v";
            if c.closed(now) {
                let Some(detail) = claim else {
                    if c_guessed {
                        continue;
                    }
                    return Ok(Attempted::CircuitClosed);
                };
                let attempts = k.rec.attempts + 1;
                let mut e = Expr::transition(
                    id,
                    VoucherStatus::Submitting,
                    now,
                    Some(until),
                    vec![hist_entry(VoucherStatus::Submitting, now, detail, true)],
                );
                e.set("attempts", ":a1", n(attempts));
                e.set("ver", ":v1", n(k.ver + 1));
                e.value(":v", n(k.ver));
                let items = vec![
                    self.circuit_check(&part, &c)?,
                    self.voucher_update(id, e, cond)?,
                ];
                if self.transact("claim", items).await? {
                    let mut rec = k.rec.clone();
                    rec.status = VoucherStatus::Submitting;
                    rec.attempts = attempts;
                    rec.updated_at = ms_time(now).unwrap_or_default();
                    self.remember(&Known {
                        rec: rec.clone(),
                        ver: k.ver + 1,
                        rbase: k.rbase,
                        lease: Some(until),
                    });
                    return Ok(Attempted::Claimed(attempts, Box::new(rec)));
                }
            } else {
                let reason = if c.in_maintenance(now) {
                    format!("circuit open: part {part} is in maintenance")
                } else if c.mode() == Some(OverrideMode::ForceOpen) {
                    format!("circuit open: part {part} is forced open")
                } else {
                    format!("circuit open: part {part} is down")
                };
                let mut e = Expr::transition(
                    id,
                    VoucherStatus::Retry,
                    now,
                    None,
                    vec![hist_entry(VoucherStatus::Retry, now, &reason, false)],
                );
                e.set("err", ":err", s(&reason));
                e.set("ver", ":v1", n(k.ver + 1));
                e.value(":v", n(k.ver));
                let event = self.outbox_put(&part, &k.rec.keys, VoucherStatus::Retry, now)?;
                let items = vec![
                    self.circuit_check(&part, &c)?,
                    self.voucher_update(id, e, cond)?,
                    event.put.clone(),
                    self.ledger_put(&part, id, now)?,
                ];
                if self.transact("hold", items).await? {
                    self.remember_events(vec![event]);
                    let mut rec = k.rec.clone();
                    rec.status = VoucherStatus::Retry;
                    rec.updated_at = ms_time(now).unwrap_or_default();
                    rec.last_error = Some(reason);
                    self.remember(&Known {
                        rec,
                        ver: k.ver + 1,
                        rbase: k.rbase,
                        lease: None,
                    });
                    return Ok(Attempted::Held);
                }
            }
            // The voucher or the circuit moved: decide again on fresh reads.
            self.forget(id);
        }
        Err(StoreError::Conflict(format!(
            "DynamoDB voucher {id}: kept changing during {ROUNDS} attempts to hold or claim it"
        )))
    }

    /// Ends a claim (see [`VoucherStore::finish_many`]); `None` when the
    /// claim was lost.
    pub(super) async fn finish_one(
        &self,
        f: &Finish,
        dead_letter_after: Option<i64>,
        now: i64,
    ) -> Result<Option<VoucherStatus>, StoreError> {
        for round in 0..2 {
            let (k, guessed) = match self.recall(&f.id).filter(|_| round == 0) {
                Some(k) => (k, true),
                None => match self.read_voucher(&f.id).await? {
                    Some(k) => (k, false),
                    None => return Ok(None),
                },
            };
            // The claim holds while the voucher is `submitting` with
            // `attempts = token`; the write requires the version read, so
            // the stored voucher is still this one when it commits.
            if !(k.rec.status == VoucherStatus::Submitting && k.rec.attempts == f.token) {
                if guessed {
                    continue;
                }
                return Ok(None);
            }
            let failed = f.token - k.rbase;
            let dead =
                f.status == VoucherStatus::Retry && dead_letter_after.is_some_and(|d| failed >= d);
            let mut hist = vec![hist_entry(f.status, now, &f.detail, false)];
            let (end, error) = if dead {
                let reason = format!("gave up after {failed} failed attempts; last: {}", f.detail);
                hist.push(hist_entry(VoucherStatus::DeadLettered, now, &reason, false));
                (VoucherStatus::DeadLettered, Some(reason))
            } else {
                let error = (f.status != VoucherStatus::Submitted).then(|| f.detail.clone());
                (f.status, error)
            };
            let mut e = Expr::transition(&f.id, end, now, None, hist);
            if dead {
                // The retry event is published although the voucher ends
                // dead-lettered, as on SQLite.
                e.sets.push("lretry = :now".into());
            }
            let error_after = error.clone();
            if let Some(err) = error {
                e.set("err", ":err", s(err));
            }
            e.set("ver", ":v1", n(k.ver + 1));
            e.value(":v", n(k.ver));
            let event = self.outbox_put(&k.rec.part, &k.rec.keys, f.status, now)?;
            let mut items = vec![
                self.voucher_update(&f.id, e, "ver = :v")?,
                event.put.clone(),
            ];
            if f.status == VoucherStatus::Retry {
                items.push(self.ledger_put(&k.rec.part, &f.id, now)?);
            }
            let mut events = vec![event];
            if dead {
                // Then the dead-lettering's own event, as on SQLite.
                let gave_up =
                    self.outbox_put(&k.rec.part, &k.rec.keys, VoucherStatus::DeadLettered, now)?;
                items.push(gave_up.put.clone());
                events.push(gave_up);
            }
            if self.transact("finish", items).await? {
                self.remember_events(events);
                if matches!(end, VoucherStatus::Submitted | VoucherStatus::Error) {
                    let mut f = self.vouchers.finals.lock().expect("final counts");
                    *f.since
                        .entry((k.rec.part.clone(), end.as_str().to_owned()))
                        .or_default() += 1;
                }
                let mut rec = k.rec.clone();
                rec.status = end;
                rec.updated_at = ms_time(now).unwrap_or_default();
                rec.last_error = error_after.or(rec.last_error);
                self.remember(&Known {
                    rec,
                    ver: k.ver + 1,
                    rbase: k.rbase,
                    lease: None,
                });
                if dead {
                    tracing::warn!(loyalty_request_id = %f.id, failed, "voucher dead-lettered");
                }
                return Ok(Some(end));
            }
            self.forget(&f.id);
        }
        Ok(None)
    }
}
