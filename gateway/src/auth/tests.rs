use rusqlite::Connection;

use super::*;

fn db() -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let conn = open(dir.path()).unwrap();
    (dir, conn)
}

#[test]
fn users_log_in_and_sessions_end() {
    let (_d, c) = db();
    let u = add_user(&c, "alice", "correct horse battery", Role::Admin, None, 1).unwrap();
    assert_eq!(u.role, Role::Admin);
    assert!(matches!(
        add_user(&c, "alice", "another password", Role::Auditor, None, 1),
        Err(AuthError::Exists(_))
    ));
    assert!(matches!(
        add_user(&c, "bob", "short", Role::Auditor, None, 1),
        Err(AuthError::WeakPassword)
    ));
    assert!(matches!(
        add_user(&c, "carol", "long enough pw", Role::Manager, None, 1),
        Err(AuthError::NoScope)
    ));
    assert!(matches!(
        add_user(&c, "<b>", "long enough pw", Role::Admin, None, 1),
        Err(AuthError::BadName)
    ));
    let m = add_user(
        &c,
        "carol",
        "long enough pw",
        Role::Manager,
        Some("sales"),
        1,
    )
    .unwrap();
    assert_eq!(m.scope.as_deref(), Some("sales"));

    // The stored hash is argon2id, never the password.
    let hash: String = c
        .query_row("SELECT hash FROM users WHERE name = 'alice'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(hash.starts_with("$argon2id$") && !hash.contains("horse"));

    let (who, s) = login(&c, "alice", "correct horse battery", "10.0.0.1", 1000).unwrap();
    assert_eq!(who.name, "alice");
    let (back, csrf) = session(&c, &s.token, 2000).unwrap().unwrap();
    assert_eq!(back, who);
    assert_eq!(csrf, s.csrf);
    // Only a digest of the token is stored.
    let n: i64 = c
        .query_row(
            "SELECT count(*) FROM sessions WHERE token_sha256 = ?1",
            [&s.token],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 0);
    assert!(session(&c, "not-a-token", 2000).unwrap().is_none());
    // Idle too long: gone.
    assert!(
        session(&c, &s.token, 2000 + SESSION_IDLE_MS + 1)
            .unwrap()
            .is_none()
    );
    let (_, s2) = login(&c, "alice", "correct horse battery", "10.0.0.1", 5000).unwrap();
    logout(&c, &s2.token).unwrap();
    assert!(session(&c, &s2.token, 5001).unwrap().is_none());
    // A new password ends the old sessions.
    let (_, s3) = login(&c, "alice", "correct horse battery", "10.0.0.1", 6000).unwrap();
    set_password(&c, "alice", "a new long password").unwrap();
    assert!(session(&c, &s3.token, 6001).unwrap().is_none());
    remove_user(&c, "carol").unwrap();
    assert_eq!(users(&c).unwrap().len(), 1);
}

#[test]
fn repeated_failures_lock_the_name_for_that_source_only() {
    let (_d, c) = db();
    add_user(&c, "alice", "correct horse battery", Role::Admin, None, 0).unwrap();
    let (pc, desk) = ("10.0.0.66", "10.0.0.2");
    assert!(matches!(
        login(&c, "nobody", "whatever pw", pc, 0),
        Err(AuthError::BadLogin)
    ));
    for i in 1..LOCK_AFTER {
        assert!(
            matches!(login(&c, "alice", "wrong", pc, i), Err(AuthError::BadLogin)),
            "attempt {i}"
        );
    }
    assert!(matches!(
        login(&c, "alice", "wrong", pc, 10),
        Err(AuthError::Locked)
    ));
    // Even the right password is refused from there while locked …
    assert!(matches!(
        login(&c, "alice", "correct horse battery", pc, 20),
        Err(AuthError::Locked)
    ));
    // … but not from alice's own desk …
    assert!(login(&c, "alice", "correct horse battery", desk, 30).is_ok());
    // … and accepted from there after.
    assert!(
        login(
            &c,
            "alice",
            "correct horse battery",
            pc,
            10 + LOCK_FOR_MS + 1
        )
        .is_ok()
    );
    // Unknown names lock too (a PC cannot probe names without limit).
    for i in 0..LOCK_AFTER {
        let _ = login(&c, "ghost", "x", pc, 100 + i);
    }
    assert!(matches!(
        login(&c, "ghost", "x", pc, 200),
        Err(AuthError::Locked)
    ));
}

#[test]
fn actions_are_recorded_newest_first() {
    let (_d, c) = db();
    for (i, what) in ["user_add", "pc_block"].iter().enumerate() {
        record(
            &c,
            &Action {
                at_ms: i as i64,
                actor: "alice".into(),
                action: what.to_string(),
                subject: "pc3".into(),
                details: serde_json::json!({"until": null}),
            },
        )
        .unwrap();
    }
    let h = history(&c, 10, 0).unwrap();
    assert_eq!(h[0].action, "pc_block");
    assert_eq!(h[1].actor, "alice");
    // Paging: the second newest alone.
    let page = history(&c, 1, 1).unwrap();
    assert_eq!(page, vec![h[1].clone()]);
}
