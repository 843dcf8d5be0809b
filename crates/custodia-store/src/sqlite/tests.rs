use super::*;
use std::hash::{Hash, Hasher};

fn linker() -> ChainLinker {
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

fn f(n: &str) -> FieldName {
    FieldName::new(n).unwrap()
}

fn open(dir: &Path) -> SqliteStore {
    SqliteStore::open(
        &dir.join("t.db"),
        &[(f("email"), true), (f("mobile"), true), (f("name"), false)],
        linker(),
    )
    .unwrap()
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
    }
}

fn ev(action: Action, c: Option<CustomerId>) -> AuditEvent {
    let mut e = AuditEvent::new(5, "test", action);
    e.customer = c;
    e.fields = vec![f("name"), f("email")];
    e
}

#[test]
fn field_lists_round_trip_coded_or_not() {
    let d = tempfile::tempdir().unwrap();
    let s = open(d.path());
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
    assert_eq!(
        s.raw_query_i64("SELECT count(*) FROM audit WHERE typeof(fields) = 'blob'")
            .unwrap(),
        2
    );
}

fn insert(s: &SqliteStore, c: &StoredCustomer) -> Applied {
    s.apply(vec![Mutation::Insert {
        customer: Box::new(c.clone()),
        events: vec![ev(Action::Create, Some(c.id))],
    }])
    .unwrap()
    .pop()
    .unwrap()
    .unwrap()
}

#[test]
fn insert_get_find_update_delete() {
    let d = tempfile::tempdir().unwrap();
    let s = open(d.path());
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
    assert_eq!(s.raw_query_i64("SELECT count(*) FROM customers").unwrap(), 0);
    let r = s
        .apply(vec![Mutation::Delete {
            id: a.id,
            events: vec![],
        }])
        .unwrap();
    assert_eq!(r, vec![Ok(Applied::NotFound)]);
}

#[test]
fn one_failure_does_not_undo_neighbours() {
    let d = tempfile::tempdir().unwrap();
    let s = open(d.path());
    let good = customer(None, 1);
    let mut bad = customer(None, 2);
    bad.blind = vec![(f("unregistered"), 1)];
    let r = s
        .apply(vec![
            Mutation::Insert {
                customer: Box::new(good.clone()),
                events: vec![ev(Action::Create, Some(good.id))],
            },
            Mutation::Insert {
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

#[test]
fn rewrap_is_conditional_and_scans_find_old_keys() {
    let d = tempfile::tempdir().unwrap();
    let s = open(d.path());
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

#[test]
fn two_writers_on_one_file_keep_one_chain() {
    let d = tempfile::tempdir().unwrap();
    let a = Arc::new(open(d.path()));
    let b = Arc::new(open(d.path()));
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

#[test]
fn meta_and_layout() {
    let d = tempfile::tempdir().unwrap();
    {
        let s = open(d.path());
        s.apply(vec![Mutation::SetMeta {
            key: "k".into(),
            value: b"v".to_vec(),
        }])
        .unwrap();
        assert_eq!(s.meta("k").unwrap(), Some(b"v".to_vec()));
        assert_eq!(s.meta("missing").unwrap(), None);
    }
    let c = Connection::open(d.path().join("t.db")).unwrap();
    c.execute("UPDATE meta SET value = CAST('99' AS BLOB) WHERE key = 'layout'", [])
        .unwrap();
    drop(c);
    let err = SqliteStore::open(&d.path().join("t.db"), &[], linker()).unwrap_err();
    assert_eq!(
        err,
        StoreError::Layout {
            found: 99,
            known: LAYOUT_VERSION
        }
    );
}

#[test]
fn closed_store_refuses_writes() {
    let d = tempfile::tempdir().unwrap();
    let s = open(d.path());
    s.close();
    assert_eq!(s.apply(vec![Mutation::Audit(vec![])]).unwrap_err(), StoreError::Closed);
}
