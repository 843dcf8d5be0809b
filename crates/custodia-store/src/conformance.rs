//! The storage contract as tests, run against every implementation: the
//! embedded SQLite store always, PostgreSQL when `CUSTODIA_TEST_POSTGRES`
//! names a server (`.ci/run` starts one; `scripts/pg-test-server` does it on
//! a developer machine). In CI (`CI` set) a missing server is a failure, not
//! a skip.

use crate::*;
use custodia_core::audit::{Action, AuditEvent};
use custodia_core::rights::SuppressionKind;
use custodia_core::{CustomerId, FieldName};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// A fresh database for one test, and the few things that differ per backend.
pub(crate) trait Backend {
    /// The store type.
    type S: Store;
    /// Open (another handle on) this test's database.
    fn open(&self) -> Self::S;
    /// The error opening the database gives now.
    fn open_err(&self) -> StoreError;
    /// One integer from SQL.
    fn raw_i64(&self, s: &Self::S, sql: &str) -> i64;
    /// Stop the store's writer.
    fn close(&self, s: &Self::S);
    /// Overwrite the recorded layout version.
    fn set_layout(&self, s: &Self::S, v: i64);
    /// SQL counting audit rows whose field list is stored as codes.
    fn sql_coded_field_lists(&self) -> &'static str;
    /// What a snapshot does on this backend.
    fn check_snapshot(&self, s: &Self::S);
}

const FIELDS: [(&str, bool); 3] = [("email", true), ("mobile", true), ("name", false)];

fn fields() -> Vec<(FieldName, bool)> {
    FIELDS.iter().map(|(n, s)| (f(n), *s)).collect()
}

pub(crate) struct SqliteBackend(tempfile::TempDir);

impl SqliteBackend {
    pub(crate) fn new() -> Self {
        SqliteBackend(tempfile::tempdir().unwrap())
    }
    fn path(&self) -> std::path::PathBuf {
        self.0.path().join("t.db")
    }
}

impl Backend for SqliteBackend {
    type S = sqlite::SqliteStore;
    fn open(&self) -> Self::S {
        sqlite::SqliteStore::open(&self.path(), &fields(), linker()).unwrap()
    }
    fn open_err(&self) -> StoreError {
        sqlite::SqliteStore::open(&self.path(), &[], linker()).unwrap_err()
    }
    fn raw_i64(&self, s: &Self::S, sql: &str) -> i64 {
        s.raw_query_i64(sql).unwrap()
    }
    fn close(&self, s: &Self::S) {
        s.close()
    }
    fn set_layout(&self, _s: &Self::S, v: i64) {
        let c = rusqlite::Connection::open(self.path()).unwrap();
        c.execute(
            "UPDATE meta SET value = CAST(?1 AS BLOB) WHERE key = 'layout'",
            [v.to_string()],
        )
        .unwrap();
    }
    fn sql_coded_field_lists(&self) -> &'static str {
        "SELECT count(*) FROM audit WHERE typeof(fields) = 'blob'"
    }
    fn check_snapshot(&self, s: &Self::S) {
        // A consistent snapshot is a database of its own.
        let snap = self.0.path().join("snap.db");
        let n = s.snapshot(&snap).unwrap();
        assert!(n > 0);
        let copy = rusqlite::Connection::open(&snap).unwrap();
        let count: i64 = copy
            .query_row("SELECT count(*) FROM customers", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, 1);
        let mode: String = copy.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "delete");
        assert!(!self.0.path().join("snap.db-wal").exists());
    }
}

/// A schema of its own in the test server's database, dropped afterwards.
pub(crate) struct PgBackend {
    url: String,
    base: String,
    schema: String,
}

impl PgBackend {
    /// `None` (the test is skipped) when no server is configured outside CI.
    pub(crate) fn new() -> Option<Self> {
        let base = match std::env::var("CUSTODIA_TEST_POSTGRES") {
            Ok(u) if !u.is_empty() => u,
            _ if std::env::var_os("CI").is_some() => {
                panic!("CUSTODIA_TEST_POSTGRES is not set: .ci/run starts PostgreSQL with scripts/pg-test-server")
            }
            _ => {
                eprintln!("skipped: set CUSTODIA_TEST_POSTGRES (eval \"$(scripts/pg-test-server)\") to run the PostgreSQL conformance tests");
                return None;
            }
        };
        let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
        Some(PgBackend {
            url: pg::url_with_schema(&base, &schema),
            base,
            schema,
        })
    }
}

impl Drop for PgBackend {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.base, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema));
        }
    }
}

impl Backend for PgBackend {
    type S = pg::PgStore;
    fn open(&self) -> Self::S {
        pg::PgStore::open(&self.url, &fields(), linker()).unwrap()
    }
    fn open_err(&self) -> StoreError {
        pg::PgStore::open(&self.url, &[], linker()).unwrap_err()
    }
    fn raw_i64(&self, s: &Self::S, sql: &str) -> i64 {
        s.raw_query_i64(sql).unwrap()
    }
    fn close(&self, s: &Self::S) {
        s.close()
    }
    fn set_layout(&self, s: &Self::S, v: i64) {
        s.raw_batch(&format!(
            "UPDATE meta SET value = convert_to('{v}', 'UTF8') WHERE key = 'layout'"
        ))
        .unwrap();
    }
    fn sql_coded_field_lists(&self) -> &'static str {
        "SELECT count(*) FROM audit WHERE fields IS NOT NULL"
    }
    fn check_snapshot(&self, s: &Self::S) {
        let err = s.snapshot(std::path::Path::new("/nonexistent")).unwrap_err();
        assert!(
            matches!(err, StoreError::Unsupported(ref m) if m.contains("pg_basebackup")),
            "{err}"
        );
    }
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite_store {
            $( #[test] fn $name() { super::$name(&super::SqliteBackend::new()) } )*
        }
        mod postgres_store {
            $( #[test] fn $name() { if let Some(b) = super::PgBackend::new() { super::$name(&b) } } )*
        }
    };
}

conformance!(
    field_lists_round_trip_coded_or_not,
    insert_get_find_update_delete,
    one_failure_does_not_undo_neighbours,
    rewrap_is_conditional_and_scans_find_old_keys,
    two_writers_on_one_file_keep_one_chain,
    meta_and_layout,
    closed_store_refuses_writes,
    notices_are_immutable_versions,
    receipts_go_with_their_customer_and_tally_the_latest_answer,
    portal_entries_are_single_use_and_expire,
    requests_are_guarded_logged_and_idempotent,
    erasure_respects_holds_and_leaves_a_tombstone,
    field_erasure_rekeys_and_flags_lifecycle_snapshot,
    concurrent_updates_of_one_customer_lose_nothing,
    a_batch_of_inserts_skips_taken_external_ids_in_order,
    counters_links_and_approvals_hold_their_conditions,
    audit_search_filters_pages_and_never_runs_the_clock_back,
);

/// The audit search: each filter, a time range, paging by cursor to the
/// end without loss or repetition; an event stamped before its
/// predecessor is stored at its predecessor's time.
pub(super) fn audit_search_filters_pages_and_never_runs_the_clock_back<B: Backend>(b: &B) {
    use custodia_core::audit::{AuditFilter, Outcome};
    let s = b.open();
    let c1 = CustomerId::from_bytes([1; 16]);
    let events: Vec<AuditEvent> = (0..300)
        .map(|i: i64| {
            let mut e = AuditEvent::new(
                1_000 + i * 10,
                if i % 2 == 0 { "staff:a" } else { "staff:b" },
                Action::Read,
            );
            if i % 3 == 0 {
                e.outcome = Outcome::Denied;
            }
            if i % 5 == 0 {
                e.customer = Some(c1);
            }
            e
        })
        .collect();
    s.apply(vec![Mutation::Audit(events)]).unwrap();
    let all = |f: &AuditFilter, limit: usize| {
        let mut out = Vec::new();
        let mut before = None;
        loop {
            let p = s.audit_search(f, before, limit).unwrap();
            assert!(p.events.windows(2).all(|w| w[0].seq > w[1].seq));
            assert!(p.events.iter().all(|e| f.matches(&e.event)));
            out.extend(p.events.iter().map(|e| e.seq));
            match p.next {
                Some(n) => before = Some(n),
                None => return out,
            }
        }
    };
    let first = s.audit_search(&AuditFilter::default(), None, 50).unwrap();
    assert_eq!(first.events.first().map(|e| e.seq), Some(300));
    assert_eq!(first.next, Some(251));
    let a = AuditFilter {
        actor: Some("staff:a".into()),
        ..Default::default()
    };
    assert_eq!(all(&a, 40).len(), 150);
    let everything = all(&AuditFilter::default(), 64);
    assert_eq!(everything, (1..=300).rev().collect::<Vec<u64>>());
    let mine = AuditFilter {
        customer: Some(c1),
        ..Default::default()
    };
    assert_eq!(all(&mine, 1000).len(), 60);
    let denied_in_range = AuditFilter {
        outcome: Some(Outcome::Denied),
        from_ms: Some(2_000),
        to_ms: Some(2_990),
        ..Default::default()
    };
    let got = all(&denied_in_range, 7);
    // i in 100..=199 with i % 3 == 0: 102, 105, …, 198 (seq = i + 1).
    assert_eq!(
        got,
        (100..=199)
            .rev()
            .filter(|i| i % 3 == 0)
            .map(|i| i as u64 + 1)
            .collect::<Vec<_>>()
    );
    let none = AuditFilter {
        from_ms: Some(1_000_000),
        ..Default::default()
    };
    assert!(s.audit_search(&none, None, 50).unwrap().events.is_empty());
    // The clock never runs back in the log.
    s.apply(vec![Mutation::Audit(vec![AuditEvent::new(3, "staff:c", Action::Read)])])
        .unwrap();
    let last = s.audit_range(301, 1).unwrap();
    assert_eq!(last[0].event.ts_ms, 1_000 + 299 * 10);
    let c = AuditFilter {
        actor: Some("staff:c".into()),
        ..Default::default()
    };
    assert_eq!(all(&c, 10), vec![301]);
}

/// Sign-in counters count and lock; an account write conditioned on its
/// last change refuses a stale row; a link is used once and only with an
/// unchanged account; an approval is decided once.
pub(super) fn counters_links_and_approvals_hold_their_conditions<B: Backend>(b: &B) {
    let s = b.open();
    let one = |m: Mutation| s.apply(vec![m]).unwrap().pop().unwrap().unwrap();
    let count = |now: i64| match one(Mutation::CountFailure {
        key: "pw:li.na:203.0.113.9".into(),
        now_ms: now,
        window_ms: 1000,
        limit: 3,
        lock_ms: 500,
        events: vec![],
    }) {
        Applied::Counted(c, locked) => (c, locked),
        other => panic!("{other:?}"),
    };
    assert_eq!(count(10).0.failures, 1);
    assert!(!count(11).1);
    let (c, locked) = count(12);
    assert!(locked && c.locked_until_ms == 512 && c.failures == 3);
    assert_eq!(s.counter("pw:li.na:203.0.113.9").unwrap().unwrap(), c);
    one(Mutation::ClearCounters {
        keys: vec![],
        prefixes: vec!["pw:li.na:".into()],
        events: vec![],
    });
    assert!(s.counter("pw:li.na:203.0.113.9").unwrap().is_none());

    let acct = AccountRecord {
        name: "li.na".into(),
        kind: crate::AccountKind::Staff,
        password: None,
        roles: vec![],
        mfa_secret: None,
        mfa_pending: None,
        mfa_last_step: None,
        recovery: vec![],
        disabled: false,
        created_ms: 1,
        updated_ms: 1,
        email: Some(vec![1, 2, 3]),
        deleted_ms: None,
    };
    assert_eq!(
        one(Mutation::PutAccount {
            account: Box::new(acct.clone()),
            create: true,
            events: vec![]
        }),
        Applied::Done
    );
    // An administrator disables it (updated at 2)...
    let mut disabled = acct.clone();
    disabled.disabled = true;
    disabled.updated_ms = 2;
    one(Mutation::PutAccount {
        account: Box::new(disabled),
        create: false,
        events: vec![],
    });
    // ...so a sign-in that read it at 1 cannot write it back enabled.
    let mut stale = acct.clone();
    stale.updated_ms = 3;
    assert_eq!(
        one(Mutation::PutAccountIf {
            account: Box::new(stale.clone()),
            expect_updated_ms: 1,
            events: vec![]
        }),
        Applied::NotFound
    );
    assert!(s.account("li.na").unwrap().unwrap().disabled);
    assert_eq!(s.account("li.na").unwrap().unwrap().email, Some(vec![1, 2, 3]));

    let link = AccountLinkRecord {
        digest: vec![9; 32],
        account: "li.na".into(),
        kind: crate::LinkKind::Setup,
        created_ms: 1,
        expires_ms: 1000,
        used: false,
        created_by: "operator:root".into(),
    };
    one(Mutation::PutAccountLink {
        link: link.clone(),
        events: vec![],
    });
    let use_at = |expect: i64, now: i64| {
        one(Mutation::UseAccountLink {
            digest: vec![9; 32],
            now_ms: now,
            account: Box::new(stale.clone()),
            expect_updated_ms: expect,
            events: vec![],
        })
    };
    assert_eq!(use_at(1, 5), Applied::NotFound, "the account changed since it was read");
    assert!(!s.account_link(&[9; 32]).unwrap().unwrap().used, "nothing was used");
    assert_eq!(use_at(2, 5000), Applied::NotFound, "expired");
    assert_eq!(use_at(2, 5), Applied::Done);
    assert_eq!(use_at(3, 6), Applied::NotFound, "used once");
    assert!(!s.account("li.na").unwrap().unwrap().disabled);

    let ap = ApprovalRecord {
        id: "apr_1".into(),
        kind: crate::ApprovalKind::GrantRoles,
        account: "li.na".into(),
        roles: vec!["cs_agent".into()],
        requested_by: "staff:po".into(),
        requested_ms: 1,
        state: crate::ApprovalState::Pending,
        decided_by: None,
        decided_ms: None,
        note: None,
        payload: Some(vec![7, 7]),
    };
    one(Mutation::PutApproval {
        approval: ap.clone(),
        events: vec![],
    });
    let mut decided = ap.clone();
    decided.state = crate::ApprovalState::Approved;
    decided.decided_by = Some("operator:second".into());
    decided.decided_ms = Some(2);
    let decide = || {
        one(Mutation::DecideApproval {
            approval: decided.clone(),
            events: vec![],
        })
    };
    assert_eq!(decide(), Applied::Done);
    assert_eq!(decide(), Applied::NotFound, "decided once");
    assert_eq!(s.approval("apr_1").unwrap().unwrap(), decided);
    assert_eq!(s.approvals().unwrap(), vec![decided.clone()]);
}

/// Many inserts in one call (an import chunk): taken external ids, also
/// one taken earlier in the same batch, are reported with the existing id
/// and write no event; the chain covers exactly the inserted ones.
pub(super) fn a_batch_of_inserts_skips_taken_external_ids_in_order<B: Backend>(b: &B) {
    let s = b.open();
    let old = customer(Some("X-1"), 1);
    insert(&s, &old);
    let batch = [
        customer(Some("X-2"), 2),
        customer(Some("X-1"), 3),
        customer(None, 4),
        customer(Some("X-2"), 5),
        customer(Some("X-3"), 6),
    ];
    let r = s
        .apply(
            batch
                .iter()
                .map(|c| Mutation::Insert {
                    consents: Vec::new(),
                    customer: Box::new(c.clone()),
                    events: vec![ev(Action::Create, Some(c.id))],
                })
                .collect(),
        )
        .unwrap();
    let r: Vec<Applied> = r.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        r,
        vec![
            Applied::Done,
            Applied::ExternalIdExists(old.id),
            Applied::Done,
            Applied::ExternalIdExists(batch[0].id),
            Applied::Done
        ]
    );
    let events = s.audit_range(1, 100).unwrap();
    let who: Vec<_> = events.iter().map(|e| e.event.customer.unwrap()).collect();
    assert_eq!(who, vec![old.id, batch[0].id, batch[2].id, batch[4].id]);
    assert_eq!(s.counts(9).unwrap().0, 4);
    assert_eq!(s.find_blind(&f("email"), 6).unwrap().len(), 1);
}

/// Two stores (two processes' worth of writers) update one customer at
/// once: every update either applies or reports a conflict with the
/// version it lost to; the applied ones are exactly the version bumps.
pub(super) fn concurrent_updates_of_one_customer_lose_nothing<B: Backend>(b: &B) {
    let (s1, s2) = (Arc::new(b.open()), Arc::new(b.open()));
    let a = customer(None, 1);
    insert(s1.as_ref(), &a);
    let applied = std::sync::atomic::AtomicI64::new(0);
    std::thread::scope(|sc| {
        for s in [s1.clone(), s2.clone(), s1.clone(), s2.clone()] {
            let applied = &applied;
            sc.spawn(move || {
                for _ in 0..25 {
                    loop {
                        let mut cur = s.get(&a.id).unwrap().unwrap();
                        cur.sealed = vec![cur.version as u8; 8];
                        let r = s
                            .apply(vec![Mutation::Update {
                                customer: Box::new(cur.clone()),
                                events: vec![ev(Action::Update, Some(a.id))],
                            }])
                            .unwrap()
                            .pop()
                            .unwrap()
                            .unwrap();
                        match r {
                            Applied::Done => {
                                applied.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                                break;
                            }
                            Applied::VersionConflict(v) => assert!(v > cur.version),
                            other => panic!("{other:?}"),
                        }
                    }
                }
            });
        }
    });
    let end = s2.get(&a.id).unwrap().unwrap();
    assert_eq!(applied.load(std::sync::atomic::Ordering::SeqCst), 100);
    assert_eq!(end.version, 101, "every applied update is one version");
    let events = s1.audit_range(1, 1000).unwrap();
    assert_eq!(events.len(), 101, "one create and one event per applied update");
    let link = linker();
    let mut prev = [0u8; 32];
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1);
        assert_eq!(e.mac, link(&prev, &e.event.canonical_bytes(e.seq)));
        prev = e.mac;
    }
}

pub(super) fn linker() -> ChainLinker {
    Arc::new(|prev: &[u8; 32], data: &[u8]| {
        let mut out = [0u8; 32];
        for (i, chunk) in out.chunks_mut(8).enumerate() {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (i, prev, data).hash(&mut h);
            chunk.copy_from_slice(&h.finish().to_be_bytes());
        }
        out
    })
}

pub(super) fn f(n: &str) -> FieldName {
    FieldName::new(n).unwrap()
}

fn customer(ext: Option<&str>, email_hash: i64) -> StoredCustomer {
    StoredCustomer {
        id: CustomerId::new(),
        external_id: ext.map(str::to_owned),
        version: 1,
        kek_version: 1,
        dk_version: 1,
        wrapped_dk: vec![1; 65],
        sealed: vec![2; 40],
        attrs: "{}".into(),
        blind: vec![(f("email"), email_hash), (f("mobile"), 7)],
        created_ms: 1,
        updated_ms: 1,
        flags: 0,
    }
}

fn ev(action: Action, c: Option<CustomerId>) -> AuditEvent {
    let mut e = AuditEvent::new(5, "test", action);
    e.customer = c;
    e.fields = vec![f("name"), f("email")];
    e
}

pub(super) fn field_lists_round_trip_coded_or_not<B: Backend>(b: &B) {
    let s = b.open();
    let mut odd = ev(Action::Read, None);
    odd.fields = vec![f("name"), f("not_registered")];
    s.apply(vec![Mutation::Audit(vec![
        ev(Action::Read, None),
        odd.clone(),
        AuditEvent::new(1, "t", Action::Init),
    ])])
    .unwrap();
    let got = s.audit_range(1, 10).unwrap();
    assert_eq!(got[0].event.fields, vec![f("name"), f("email")]);
    assert_eq!(got[1].event, odd);
    assert!(got[2].event.fields.is_empty());
    assert_eq!(b.raw_i64(&s, b.sql_coded_field_lists()), 2);
}

fn insert(s: &dyn Store, c: &StoredCustomer) -> Applied {
    s.apply(vec![Mutation::Insert {
        consents: Vec::new(),
        customer: Box::new(c.clone()),
        events: vec![ev(Action::Create, Some(c.id))],
    }])
    .unwrap()
    .pop()
    .unwrap()
    .unwrap()
}

pub(super) fn insert_get_find_update_delete<B: Backend>(b: &B) {
    let s = b.open();
    let a = customer(Some("A-1"), 42);
    assert_eq!(insert(&s, &a), Applied::Done);
    assert_eq!(s.get(&a.id).unwrap().unwrap(), a);
    assert_eq!(s.find_blind(&f("email"), 42).unwrap(), vec![a.clone()]);
    assert!(s.find_blind(&f("email"), 43).unwrap().is_empty());
    assert!(s.find_blind(&f("nosuch"), 42).unwrap().is_empty());

    // Same external id: skipped, reported, no event written.
    let dup = customer(Some("A-1"), 99);
    assert_eq!(insert(&s, &dup), Applied::ExternalIdExists(a.id));
    assert_eq!(s.audit_head().unwrap().0, 1);

    // Optimistic update.
    let mut upd = a.clone();
    upd.blind = vec![(f("email"), 43)];
    upd.sealed = vec![3; 10];
    let r = s
        .apply(vec![Mutation::Update {
            customer: Box::new(upd.clone()),
            events: vec![],
        }])
        .unwrap();
    assert_eq!(r, vec![Ok(Applied::Done)]);
    let r = s
        .apply(vec![Mutation::Update {
            customer: Box::new(upd.clone()),
            events: vec![],
        }])
        .unwrap();
    assert_eq!(r, vec![Ok(Applied::VersionConflict(2))]);
    assert!(s.find_blind(&f("email"), 42).unwrap().is_empty());
    let got = s.find_blind(&f("email"), 43).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].version, 2);
    assert_eq!(got[0].sealed, vec![3; 10]);

    let r = s
        .apply(vec![Mutation::Delete {
            id: a.id,
            events: vec![ev(Action::Delete, Some(a.id))],
        }])
        .unwrap();
    assert_eq!(r, vec![Ok(Applied::Done)]);
    assert!(s.get(&a.id).unwrap().is_none());
    assert!(s.find_blind(&f("email"), 43).unwrap().is_empty());
    assert_eq!(b.raw_i64(&s, "SELECT count(*) FROM customers"), 0);
    let r = s
        .apply(vec![Mutation::Delete {
            id: a.id,
            events: vec![],
        }])
        .unwrap();
    assert_eq!(r, vec![Ok(Applied::NotFound)]);
}

pub(super) fn one_failure_does_not_undo_neighbours<B: Backend>(b: &B) {
    let s = b.open();
    let good = customer(None, 1);
    let mut bad = customer(None, 2);
    bad.blind = vec![(f("unregistered"), 1)];
    let r = s
        .apply(vec![
            Mutation::Insert {
                consents: Vec::new(),
                customer: Box::new(good.clone()),
                events: vec![ev(Action::Create, Some(good.id))],
            },
            Mutation::Insert {
                consents: Vec::new(),
                customer: Box::new(bad.clone()),
                events: vec![ev(Action::Create, Some(bad.id))],
            },
        ])
        .unwrap();
    assert_eq!(r[0], Ok(Applied::Done));
    assert!(r[1].is_err());
    assert!(s.get(&good.id).unwrap().is_some());
    assert!(s.get(&bad.id).unwrap().is_none());
    let events = s.audit_range(1, 10).unwrap();
    assert_eq!(events.len(), 1, "the failed insert's event is rolled back with it");
    assert_eq!(events[0].event.customer, Some(good.id));
}

pub(super) fn rewrap_is_conditional_and_scans_find_old_keys<B: Backend>(b: &B) {
    let s = b.open();
    let cs: Vec<_> = (0..5).map(|i| customer(None, i)).collect();
    for c in &cs {
        insert(&s, c);
    }
    assert_eq!(s.counts(2).unwrap(), (5, 5));
    let (page, cursor) = s.scan_kek_below(2, 0, 3).unwrap();
    assert_eq!(page.len(), 3);
    for c in &page {
        let r = s
            .apply(vec![Mutation::Rewrap {
                id: c.id,
                from_kek: 1,
                to_kek: 2,
                wrapped_dk: vec![9; 65],
            }])
            .unwrap();
        assert_eq!(r, vec![Ok(Applied::Done)]);
    }
    let r = s
        .apply(vec![Mutation::Rewrap {
            id: page[0].id,
            from_kek: 1,
            to_kek: 2,
            wrapped_dk: vec![9; 65],
        }])
        .unwrap();
    assert_eq!(r, vec![Ok(Applied::AlreadyRewrapped)]);
    let (rest, _) = s.scan_kek_below(2, cursor, 10).unwrap();
    assert_eq!(rest.len(), 2);
    assert_eq!(s.counts(2).unwrap(), (5, 2));
    let (all, _) = s.scan(0, 100).unwrap();
    assert_eq!(
        all.iter().map(|c| c.id).collect::<Vec<_>>(),
        cs.iter().map(|c| c.id).collect::<Vec<_>>()
    );
}

pub(super) fn two_writers_on_one_file_keep_one_chain<B: Backend>(b: &B) {
    let (a, b) = (Arc::new(b.open()), Arc::new(b.open()));
    let threads: Vec<_> = [a.clone(), b.clone()]
        .into_iter()
        .map(|s| {
            std::thread::spawn(move || {
                for _ in 0..50 {
                    s.apply(vec![Mutation::Audit(vec![ev(Action::Read, None)])]).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let events = a.audit_range(1, 1000).unwrap();
    assert_eq!(events.len(), 100);
    let link = linker();
    let mut prev = [0u8; 32];
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1);
        assert_eq!(e.prev, prev);
        assert_eq!(e.mac, link(&prev, &e.event.canonical_bytes(e.seq)));
        prev = e.mac;
    }
    assert_eq!(b.audit_head().unwrap(), (100, prev));
}

pub(super) fn meta_and_layout<B: Backend>(b: &B) {
    {
        let s = b.open();
        s.apply(vec![Mutation::SetMeta {
            key: "k".into(),
            value: b"v".to_vec(),
        }])
        .unwrap();
        assert_eq!(s.meta("k").unwrap(), Some(b"v".to_vec()));
        assert_eq!(s.meta("missing").unwrap(), None);
        b.set_layout(&s, 99);
    }
    assert_eq!(b.open_err(), StoreError::Layout { found: 99, known: 1 });
}

pub(super) fn closed_store_refuses_writes<B: Backend>(b: &B) {
    let s = b.open();
    b.close(&s);
    assert_eq!(s.apply(vec![Mutation::Audit(vec![])]).unwrap_err(), StoreError::Closed);
}

fn receipt(id: &str, c: CustomerId, purpose: &str, version: u32, given: bool) -> ConsentRecord {
    ConsentRecord {
        id: id.into(),
        customer: c,
        purpose: purpose.into(),
        notice_version: version,
        given,
        ts_ms: 10,
        channel: "web".into(),
        collector: "test".into(),
        text_sha256: "00".into(),
        kinds: vec!["general".into()],
        given_by: "subject".into(),
        language: "en".into(),
        document_sha256: None,
    }
}

fn one(s: &dyn Store, m: Mutation) -> Applied {
    s.apply(vec![m]).unwrap().pop().unwrap().unwrap()
}

pub(super) fn notices_are_immutable_versions<B: Backend>(b: &B) {
    let s = b.open();
    let n = |v: u32, text: &str| Mutation::PutNotice {
        notice: NoticeRecord {
            version: v,
            toml: text.into(),
            published_ms: 1,
            published_by: "po".into(),
        },
        events: vec![ev(Action::Notice, None)],
    };
    assert_eq!(one(&s, n(1, "a")), Applied::Done);
    assert_eq!(one(&s, n(2, "b")), Applied::Done);
    assert_eq!(one(&s, n(1, "changed")), Applied::Conflict);
    let all = s.notices().unwrap();
    assert_eq!(
        all.iter().map(|n| (n.version, n.toml.as_str())).collect::<Vec<_>>(),
        vec![(1, "a"), (2, "b")]
    );
    assert_eq!(s.audit_head().unwrap().0, 2, "the refused version wrote no event");
}

pub(super) fn receipts_go_with_their_customer_and_tally_the_latest_answer<B: Backend>(b: &B) {
    let s = b.open();
    let a = customer(None, 1);
    let b = customer(None, 2);
    // Consents given with the record are stored only if it is inserted.
    assert_eq!(
        one(
            &s,
            Mutation::Insert {
                customer: Box::new(a.clone()),
                consents: vec![receipt("r1", a.id, "marketing", 1, true)],
                events: vec![],
            }
        ),
        Applied::Done
    );
    let mut dup = customer(None, 3);
    dup.id = a.id;
    assert!(s
        .apply(vec![Mutation::Insert {
            customer: Box::new(dup),
            consents: vec![receipt("r-dup", a.id, "marketing", 1, false)],
            events: vec![],
        }])
        .unwrap()[0]
        .is_err());
    assert!(s.consent_receipt("r-dup").unwrap().is_none());
    insert(&s, &b);
    let put = |c: CustomerId, rs: Vec<ConsentRecord>| {
        one(
            &s,
            Mutation::PutConsents {
                customer: c,
                receipts: rs,
                events: vec![ev(Action::Consent, Some(c))],
            },
        )
    };
    assert_eq!(
        put(a.id, vec![receipt("r2", a.id, "marketing", 2, false)]),
        Applied::Done
    );
    assert_eq!(
        put(
            b.id,
            vec![
                receipt("r3", b.id, "marketing", 1, true),
                receipt("r4", b.id, "risk_control", 2, true)
            ]
        ),
        Applied::Done
    );
    let ghost = CustomerId::new();
    assert_eq!(
        put(ghost, vec![receipt("r5", ghost, "marketing", 1, true)]),
        Applied::NotFound
    );
    assert!(s.consent_receipt("r5").unwrap().is_none());
    assert_eq!(
        s.consents(&a.id)
            .unwrap()
            .iter()
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>(),
        vec!["r1", "r2"]
    );
    let t: Vec<(String, u32, bool, u64)> = s
        .consent_tallies()
        .unwrap()
        .into_iter()
        .map(|t| (t.purpose, t.notice_version, t.given, t.customers))
        .collect();
    assert_eq!(
        t,
        vec![
            ("marketing".into(), 1, true, 1),
            ("marketing".into(), 2, false, 1),
            ("risk_control".into(), 2, true, 1)
        ]
    );
}

pub(super) fn portal_entries_are_single_use_and_expire<B: Backend>(b: &B) {
    let s = b.open();
    let a = customer(None, 1);
    insert(&s, &a);
    let tok = |digest: &[u8], kind: &str, expires: i64| PortalTokenRecord {
        digest: digest.to_vec(),
        customer: a.id,
        kind: kind.into(),
        csrf: String::new(),
        created_ms: 1000,
        expires_ms: expires,
        used: false,
        issued_by: "staff:x".into(),
    };
    one(
        &s,
        Mutation::PutPortalToken {
            token: tok(b"entry", "entry", 5000),
            events: vec![],
        },
    );
    one(
        &s,
        Mutation::PutPortalToken {
            token: tok(b"late", "entry", 2000),
            events: vec![],
        },
    );
    let use_ = |digest: &[u8], now: i64| {
        one(
            &s,
            Mutation::UsePortalToken {
                digest: digest.to_vec(),
                now_ms: now,
                then: Some(tok(&[digest, b"-session"].concat(), "session", now + 100)),
                events: vec![ev(Action::Portal, Some(a.id))],
            },
        )
    };
    assert_eq!(use_(b"late", 2500), Applied::NotFound, "expired");
    assert_eq!(use_(b"entry", 3000), Applied::Done);
    assert_eq!(use_(b"entry", 3001), Applied::NotFound, "used once already");
    assert!(s.portal_token(b"entry-session").unwrap().is_some());
    assert!(s.portal_token(b"late-session").unwrap().is_none());
    assert!(s.portal_token(b"entry").unwrap().unwrap().used);
    assert_eq!(use_(b"nope", 3000), Applied::NotFound);
}

pub(super) fn requests_are_guarded_logged_and_idempotent<B: Backend>(b: &B) {
    let s = b.open();
    let a = customer(None, 1);
    insert(&s, &a);
    let r = RequestRecord {
        id: "req_1".into(),
        customer: Some(a.id),
        kind: "erasure".into(),
        status: "received".into(),
        channel: "web".into(),
        regime: "gdpr".into(),
        created_ms: 5,
        updated_ms: 5,
        idem_key: Some("k1".into()),
        detail: Some(vec![9, 9]),
        ..Default::default()
    };
    let log = |from: &str, to: &str| RequestLogEntry {
        ts_ms: 6,
        actor: "t".into(),
        from_status: from.into(),
        to_status: to.into(),
        note: String::new(),
    };
    let put = |r: &RequestRecord, expect: Option<&str>, l: RequestLogEntry, rec: Vec<RecipientNotice>| {
        one(
            &s,
            Mutation::PutRequest {
                request: Box::new(r.clone()),
                expect_status: expect.map(str::to_owned),
                log: vec![l],
                recipients: rec,
                clock: None,
                events: vec![],
            },
        )
    };
    assert_eq!(put(&r, None, log("", "received"), vec![]), Applied::Done);
    // The same id again, or another request with the same key: refused.
    assert_eq!(put(&r, None, log("", "received"), vec![]), Applied::Conflict);
    let mut other = r.clone();
    other.id = "req_2".into();
    assert_eq!(put(&other, None, log("", "received"), vec![]), Applied::Conflict);
    assert_eq!(s.request_by_key("k1").unwrap().unwrap().id, "req_1");
    // Advancing checks the status read.
    let mut v = r.clone();
    v.status = "verified".into();
    assert_eq!(
        put(&v, Some("verified"), log("verified", "verified"), vec![]),
        Applied::Conflict
    );
    let note = RecipientNotice {
        recipient: "SMS gateway".into(),
        notified_ms: None,
        notified_by: None,
    };
    assert_eq!(
        put(&v, Some("received"), log("received", "verified"), vec![note]),
        Applied::Done
    );
    assert_eq!(s.request("req_1").unwrap().unwrap().status, "verified");
    assert_eq!(s.request_log("req_1").unwrap().len(), 2);
    assert_eq!(s.request_recipients("req_1").unwrap()[0].recipient, "SMS gateway");
    assert_eq!(s.open_requests().unwrap().len(), 1);
    assert_eq!(s.requests(&a.id).unwrap().len(), 1);
    let mut done = v.clone();
    done.status = "completed".into();
    assert_eq!(
        put(&done, Some("verified"), log("verified", "completed"), vec![]),
        Applied::Done
    );
    assert!(s.open_requests().unwrap().is_empty());
    assert_eq!(s.finished_requests_before(6).unwrap().len(), 1);
    assert!(s.finished_requests_before(5).unwrap().is_empty());
}

fn tomb(id: &str, c: CustomerId, fields: &[&str]) -> Tombstone {
    Tombstone {
        id: id.into(),
        customer: c,
        erased_ms: 9,
        fields: fields.iter().map(|f| f.to_string()).collect(),
        request: None,
        basis: "test".into(),
        certificate: "dc_1".into(),
        key_sha256: "00".into(),
        actor: "t".into(),
        suppress: vec![],
    }
}

pub(super) fn erasure_respects_holds_and_leaves_a_tombstone<B: Backend>(b: &B) {
    let s = b.open();
    let a = customer(Some("E-1"), 77);
    insert(&s, &a);
    one(
        &s,
        Mutation::PutPortalToken {
            token: PortalTokenRecord {
                digest: b"tok".to_vec(),
                customer: a.id,
                kind: "entry".into(),
                csrf: String::new(),
                created_ms: 1,
                expires_ms: i64::MAX,
                used: false,
                issued_by: "t".into(),
            },
            events: vec![],
        },
    );
    let hold = HoldRecord {
        id: "hold_1".into(),
        customer: a.id,
        reason: "case 42".into(),
        set_by: "t".into(),
        set_ms: 1,
        released_ms: None,
        released_by: None,
    };
    one(
        &s,
        Mutation::PutHold {
            hold: hold.clone(),
            events: vec![],
        },
    );
    assert_eq!(s.held_customers().unwrap(), vec![a.id]);
    let erase = |t: Tombstone, replay: bool| {
        one(
            &s,
            Mutation::Erase {
                tombstone: Box::new(t),
                certificate: Some(CertificateRecord {
                    id: "dc_1".into(),
                    jws: "x.y.z".into(),
                    created_ms: 9,
                }),
                rekeyed: None,
                request: None,
                replay,
                events: vec![ev(Action::Delete, Some(a.id))],
            },
        )
    };
    assert_eq!(erase(tomb("er_1", a.id, &[]), false), Applied::Conflict, "held");
    assert!(s.get(&a.id).unwrap().is_some());
    assert!(s.tombstones().unwrap().is_empty());
    let mut released = hold.clone();
    released.released_ms = Some(2);
    one(
        &s,
        Mutation::PutHold {
            hold: released,
            events: vec![],
        },
    );
    assert!(s.held_customers().unwrap().is_empty());
    let listed = Suppression {
        kind: SuppressionKind::ExternalId,
        digest: vec![7; 16],
    };
    let mut er1 = tomb("er_1", a.id, &[]);
    er1.suppress = vec![listed.clone()];
    assert_eq!(erase(er1, false), Applied::Done);
    let hit = s.suppressed(&[7; 16]).unwrap().expect("listed");
    assert_eq!(
        (hit.kind, hit.tombstone.as_str(), hit.certificate.as_str()),
        (SuppressionKind::ExternalId, "er_1", "dc_1")
    );
    assert!(s.suppressed(&[8; 16]).unwrap().is_none());
    assert_eq!(s.tombstones().unwrap()[0].suppress, vec![listed.clone()]);
    assert!(s.get(&a.id).unwrap().is_none());
    assert!(s.find_blind(&f("email"), 77).unwrap().is_empty());
    assert!(s.portal_token(b"tok").unwrap().is_none());
    assert_eq!(s.tombstones().unwrap()[0].id, "er_1");
    assert_eq!(s.certificate("dc_1").unwrap().unwrap().jws, "x.y.z");
    assert_eq!(erase(tomb("er_2", a.id, &[]), true), Applied::NotFound);
    // A tombstone alone (replay into a database that never held the customer).
    let ghost = CustomerId::new();
    let mut er3 = tomb("er_3", ghost, &[]);
    er3.suppress = vec![
        listed.clone(),
        Suppression {
            kind: SuppressionKind::Mobile,
            digest: vec![9; 16],
        },
    ];
    one(
        &s,
        Mutation::PutTombstone {
            tombstone: er3,
            events: vec![],
        },
    );
    one(
        &s,
        Mutation::PutTombstone {
            tombstone: tomb("er_3", ghost, &[]),
            events: vec![],
        },
    );
    assert_eq!(s.tombstones().unwrap().len(), 2);
    // The first erasure of an identifier keeps its entry.
    assert_eq!(s.suppressed(&[7; 16]).unwrap().unwrap().tombstone, "er_1");
    let mut list = s.suppression_list().unwrap();
    list.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(list.len(), 2);
    assert_eq!(
        (list[1].1.kind, list[1].1.tombstone.as_str()),
        (SuppressionKind::Mobile, "er_3")
    );
}

pub(super) fn field_erasure_rekeys_and_flags_lifecycle_snapshot<B: Backend>(b: &B) {
    let s = b.open();
    let a = customer(None, 5);
    insert(&s, &a);
    let mut rekeyed = a.clone();
    rekeyed.wrapped_dk = vec![3; 65];
    rekeyed.dk_version = 2;
    rekeyed.kek_version = 4;
    rekeyed.sealed = vec![4; 20];
    rekeyed.blind = vec![(f("mobile"), 7)];
    let erase = |r: &StoredCustomer| {
        one(
            &s,
            Mutation::Erase {
                tombstone: Box::new(tomb(&format!("er_{}", r.version), a.id, &["email"])),
                certificate: None,
                rekeyed: Some(Box::new(r.clone())),
                request: None,
                replay: false,
                events: vec![],
            },
        )
    };
    let mut stale = rekeyed.clone();
    stale.version = 9;
    assert_eq!(erase(&stale), Applied::NotFound, "version changed meanwhile");
    assert_eq!(erase(&rekeyed), Applied::Done);
    let got = s.get(&a.id).unwrap().unwrap();
    assert_eq!(
        (got.wrapped_dk.clone(), got.dk_version, got.kek_version, got.version),
        (vec![3; 65], 2, 4, 2)
    );
    assert!(s.find_blind(&f("email"), 5).unwrap().is_empty());
    assert_eq!(s.find_blind(&f("mobile"), 7).unwrap().len(), 1);
    // Flags and lifecycle.
    one(
        &s,
        Mutation::SetFlags {
            id: a.id,
            flags: crate::FLAG_RESTRICTED,
            events: vec![],
        },
    );
    assert_eq!(s.get(&a.id).unwrap().unwrap().flags, crate::FLAG_RESTRICTED);
    assert_eq!(
        one(
            &s,
            Mutation::SetFlags {
                id: CustomerId::new(),
                flags: 1,
                events: vec![]
            }
        ),
        Applied::NotFound
    );
    let l = Lifecycle {
        customer: Some(a.id),
        contract_end_ms: Some(100),
        last_activity_ms: None,
        reviewed_ms: Some(50),
    };
    one(
        &s,
        Mutation::PutLifecycle {
            lifecycle: l.clone(),
            events: vec![],
        },
    );
    assert_eq!(s.lifecycle(&a.id).unwrap(), Some(l.clone()));
    assert_eq!(s.lifecycles().unwrap(), vec![l]);
    b.check_snapshot(&s);
}
