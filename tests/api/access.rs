//! Roles, ACLs and user administration over HTTP (api.md Part B, the
//! seed's `test_roles.py` and `test_acls.py` flows): an admin manages
//! them, anyone else gets 403, a user reads its own; a new user has the
//! default ACL, a deleted one takes its roles and ACLs along, a password
//! reset revokes the user's tokens; bodies are strict. And a database
//! made before ACLs existed opens with the default ACL on each user.

use serde_json::{json, Value};

use crate::common::{admin_and_bob, bearer, Daemon, Response};

fn call(server: &Daemon, method: &str, path: &str, token: &str, body: &Value) -> Response {
    let auth = bearer(token);
    let body = match body {
        Value::Null => Vec::new(),
        other => other.to_string().into_bytes(),
    };
    server.call(method, path, &[("Authorization", auth.as_bytes())], &body)
}

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

#[test]
fn an_admin_manages_roles_others_read_their_own() {
    let (server, alice, bob) = admin_and_bob(&[]);
    let get = |path: &str, token: &str| call(&server, "GET", path, token, &Value::Null);
    let mine = get("/api/v1.0/users/1/roles", &alice);
    assert_eq!(mine.status, 200, "{mine:?}");
    let roles = mine.json();
    assert_eq!(roles.as_array().unwrap().len(), 1, "{roles}");
    assert_eq!(keys(&roles[0]), ["id", "name", "user_id"]);
    assert_eq!(
        (roles[0]["name"].clone(), roles[0]["user_id"].clone()),
        (json!("admin"), json!(1))
    );
    let admin_role = roles[0]["id"].as_u64().unwrap();
    assert_eq!(get("/api/v1.0/users/2/roles", &bob).json(), json!([]));
    for path in [
        "/api/v1.0/users/1/roles".to_owned(),
        format!("/api/v1.0/users/1/roles/{admin_role}"),
    ] {
        let message = get(&path, &bob).assert_error(403, "forbidden");
        assert!(message.contains("your own roles"), "{message}");
    }
    // alice gives bob a role; giving it twice, or bob trying, fails.
    let add = json!({"name": "ops"});
    let created = call(&server, "POST", "/api/v1.0/users/2/roles", &alice, &add);
    assert_eq!(created.status, 200, "{created:?}");
    let role = created.json()["id"].as_u64().unwrap();
    let again = call(&server, "POST", "/api/v1.0/users/2/roles", &alice, &add);
    assert!(again.assert_error(400, "bad request").contains("already exists"));
    let theirs = call(&server, "POST", "/api/v1.0/users/2/roles", &bob, &add);
    theirs.assert_error(403, "forbidden");
    let bad = call(
        &server,
        "POST",
        "/api/v1.0/users/2/roles",
        &alice,
        &json!({"name": "a b"}),
    );
    assert!(bad.assert_error(400, "bad request").contains("role name"));
    let path = format!("/api/v1.0/users/2/roles/{role}");
    for token in [&alice, &bob] {
        let one = get(&path, token);
        assert_eq!(one.json(), json!({"id": role, "name": "ops", "user_id": 2}));
    }
    // The seed renames roles with PUT: admins only.
    let renamed = call(&server, "PUT", &path, &alice, &json!({"name": "tata"}));
    assert_eq!(renamed.status, 200, "{renamed:?}");
    assert_eq!(renamed.json(), json!({"id": role, "name": "tata", "user_id": 2}));
    call(&server, "PUT", &path, &bob, &json!({"name": "x"})).assert_error(403, "forbidden");
    assert_eq!(get(&path, &bob).json()["name"], "tata");
    call(&server, "PUT", &path, &alice, &json!({"name": "a b"})).assert_error(400, "bad request");
    call(&server, "PUT", &path, &alice, &json!({})).assert_error(400, "bad request");
    // A role under another user's path is not found there.
    get(&format!("/api/v1.0/users/1/roles/{role}"), &alice).assert_error(404, "not found");
    call(
        &server,
        "PUT",
        &format!("/api/v1.0/users/1/roles/{role}"),
        &alice,
        &json!({"name": "y"}),
    )
    .assert_error(404, "not found");
    call(&server, "DELETE", &path, &bob, &Value::Null).assert_error(403, "forbidden");
    let deleted = call(&server, "DELETE", &path, &alice, &Value::Null);
    assert_eq!((deleted.status, deleted.body.len()), (200, 0), "{deleted:?}");
    get(&path, &alice).assert_error(404, "not found");
    call(&server, "DELETE", &path, &alice, &Value::Null).assert_error(404, "not found");
    // Unknown users: 404 for an admin; bob never learns whether they exist.
    for path in [
        "/api/v1.0/users/99/roles",
        "/api/v1.0/users/x/roles",
        "/api/v1.0/users/-1/roles",
    ] {
        get(path, &alice).assert_error(404, "not found");
    }
    get("/api/v1.0/users/99/roles", &bob).assert_error(403, "forbidden");
    // Once bob is an admin he may.
    call(
        &server,
        "POST",
        "/api/v1.0/users/2/roles",
        &alice,
        &json!({"name": "admin"}),
    );
    assert_eq!(get("/api/v1.0/users/1/roles", &bob).status, 200);
}

#[test]
fn an_admin_manages_acls_others_read_their_own() {
    let (server, alice, bob) = admin_and_bob(&[]);
    let get = |path: &str, token: &str| call(&server, "GET", path, token, &Value::Null);
    // bob's default ACL, seen by bob and by alice.
    for token in [&bob, &alice] {
        let acls = get("/api/v1.0/users/2/acls", token).json();
        assert_eq!(acls.as_array().unwrap().len(), 1, "{acls}");
        assert_eq!(keys(&acls[0]), ["functions", "id", "minions", "user_id"]);
        assert_eq!(
            (acls[0]["minions"].clone(), acls[0]["functions"].clone()),
            (json!("*"), json!("test.ping"))
        );
    }
    get("/api/v1.0/users/1/acls", &bob).assert_error(403, "forbidden");
    let acl = json!({"minions": "web*", "functions": "pkg.*"});
    let created = call(&server, "POST", "/api/v1.0/users/2/acls", &alice, &acl);
    assert_eq!(created.status, 200, "{created:?}");
    let id = created.json()["id"].as_u64().unwrap();
    let again = call(&server, "POST", "/api/v1.0/users/2/acls", &alice, &acl);
    let message = again.assert_error(400, "bad request");
    assert!(
        message.contains(&format!("id {id}")),
        "names the existing one: {message}"
    );
    call(&server, "POST", "/api/v1.0/users/2/acls", &bob, &acl).assert_error(403, "forbidden");
    for (body, field) in [
        (json!({"minions": "web*"}), "functions"),
        (json!({"functions": "x"}), "minions"),
        (json!({"minions": "", "functions": "x"}), "minions"),
        (json!({"minions": "m", "functions": "a\nb"}), "functions"),
    ] {
        let response = call(&server, "POST", "/api/v1.0/users/2/acls", &alice, &body);
        let message = response.assert_error(400, "bad request");
        assert!(message.contains(field), "{body}: {message}");
    }
    // A partial update, as the seed's PUT.
    let path = format!("/api/v1.0/users/2/acls/{id}");
    let changed = call(&server, "PUT", &path, &alice, &json!({"functions": "test.*"}));
    assert_eq!(changed.status, 200, "{changed:?}");
    let expected = json!({"id": id, "user_id": 2, "minions": "web*", "functions": "test.*"});
    assert_eq!(changed.json(), expected);
    call(&server, "PUT", &path, &bob, &json!({"functions": "x"})).assert_error(403, "forbidden");
    assert_eq!(get(&path, &bob).json(), expected);
    let same_as_default = call(
        &server,
        "PUT",
        &path,
        &alice,
        &json!({"minions": "*", "functions": "test.ping"}),
    );
    assert!(same_as_default
        .assert_error(400, "bad request")
        .contains("identical"));
    call(&server, "PUT", &path, &alice, &json!({})).assert_error(400, "bad request");
    get(&format!("/api/v1.0/users/1/acls/{id}"), &alice).assert_error(404, "not found");
    call(&server, "DELETE", &path, &bob, &Value::Null).assert_error(403, "forbidden");
    let deleted = call(&server, "DELETE", &path, &alice, &Value::Null);
    assert_eq!((deleted.status, deleted.body.len()), (200, 0), "{deleted:?}");
    get(&path, &alice).assert_error(404, "not found");
    call(&server, "PUT", &path, &alice, &json!({"functions": "x"})).assert_error(404, "not found");
    get("/api/v1.0/users/99/acls", &alice).assert_error(404, "not found");
    // The command line sees what the API did.
    let out = server.admin("acls", &["bob"]);
    assert!(
        out.stdout.contains("test.ping") && !out.stdout.contains("web*"),
        "{out:?}"
    );
}

#[test]
fn an_admin_creates_resets_and_deletes_users() {
    let (server, alice, bob) = admin_and_bob(&[]);
    let made = call(
        &server,
        "POST",
        "/api/v1.0/users",
        &alice,
        &json!({"nickname": "carol"}),
    );
    assert_eq!(made.status, 201, "{made:?}");
    assert_eq!(made.header("cache-control"), Some("no-store"));
    let user = made.json();
    let id = user["id"].as_u64().unwrap();
    assert_eq!(user["nickname"], "carol");
    assert_eq!(user["_links"]["self"], format!("/api/v1.0/users/{id}"));
    let password = user["password"].as_str().unwrap().to_owned();
    let carol = server.token("carol", &password);
    // The new user has the default ACL, and sees it.
    let acls = call(
        &server,
        "GET",
        &format!("/api/v1.0/users/{id}/acls"),
        &carol,
        &Value::Null,
    )
    .json();
    assert_eq!(acls[0]["minions"], "*");
    assert_eq!(acls[0]["functions"], "test.ping");
    for (body, status) in [
        (json!({"nickname": "carol"}), 400),
        (json!({"nickname": "a:b"}), 400),
        (json!({}), 400),
    ] {
        call(&server, "POST", "/api/v1.0/users", &alice, &body).assert_error(status, "bad request");
    }
    let by_bob = call(
        &server,
        "POST",
        "/api/v1.0/users",
        &bob,
        &json!({"nickname": "dave"}),
    );
    by_bob.assert_error(403, "forbidden");
    // A reset: a new password, carol's tokens revoked.
    let reset_path = format!("/api/v1.0/users/{id}/password");
    call(&server, "POST", &reset_path, &bob, &Value::Null).assert_error(403, "forbidden");
    let reset = call(&server, "POST", &reset_path, &alice, &Value::Null);
    assert_eq!(reset.status, 200, "{reset:?}");
    assert_eq!(keys(&reset.json()), ["password"]);
    let new = reset.json()["password"].as_str().unwrap().to_owned();
    assert_ne!(new, password);
    server
        .get("/api/v1.0/users", Some(&carol))
        .assert_error(401, "authentication required");
    server
        .login("carol", &password, "")
        .assert_error(401, "authentication required");
    let carol = server.token("carol", &new);
    // Deletion takes tokens, roles and ACLs along.
    call(
        &server,
        "POST",
        &format!("/api/v1.0/users/{id}/roles"),
        &alice,
        &json!({"name": "ops"}),
    );
    let path = format!("/api/v1.0/users/{id}");
    call(&server, "DELETE", &path, &bob, &Value::Null).assert_error(403, "forbidden");
    let gone = call(&server, "DELETE", &path, &alice, &Value::Null);
    assert_eq!((gone.status, gone.body.len()), (204, 0), "{gone:?}");
    server.get(&path, Some(&alice)).assert_error(404, "not found");
    server
        .get("/api/v1.0/users", Some(&carol))
        .assert_error(401, "authentication required");
    call(&server, "GET", &format!("{path}/acls"), &alice, &Value::Null).assert_error(404, "not found");
    call(&server, "DELETE", &path, &alice, &Value::Null).assert_error(404, "not found");
    call(
        &server,
        "POST",
        "/api/v1.0/users/99/password",
        &alice,
        &Value::Null,
    )
    .assert_error(404, "not found");
    let check = server.admin_db("check");
    assert!(
        check.stdout.contains("roles: 1\nacls: 2"),
        "only alice's and bob's: {check:?}"
    );
    assert!(check.status.success(), "{check:?}");
    // Passwords stay out of the log.
    let log = server.log();
    assert!(!log.contains(&password) && !log.contains(&new), "{log}");
    assert!(
        log.contains(&format!("user 1 deleted user carol ({id})")),
        "{log}"
    );
}

#[test]
fn bodies_are_strict_and_name_what_is_wrong() {
    let (server, alice, _) = admin_and_bob(&[]);
    let auth = bearer(&alice);
    let headers = [("Authorization", auth.as_bytes())];
    for (method, path, body, needle) in [
        (
            "POST",
            "/api/v1.0/users/2/roles",
            &br#"{"name": "ops", "admin": true}"#[..],
            "unknown field \"admin\"",
        ),
        (
            "POST",
            "/api/v1.0/users/2/roles",
            br#"{"name": 1}"#,
            "name must be a string",
        ),
        ("POST", "/api/v1.0/users/2/roles", b"", "missing body"),
        ("POST", "/api/v1.0/users/2/roles", br#"["ops"]"#, "JSON object"),
        ("POST", "/api/v1.0/users/2/roles", b"{", "not valid JSON"),
        (
            "POST",
            "/api/v1.0/users/2/acls",
            br#"{"minions": "*", "functions": "x", "user_id": 1}"#,
            "unknown field \"user_id\"",
        ),
        (
            "PUT",
            "/api/v1.0/users/2/acls/2",
            br#"{"function": "x"}"#,
            "unknown field \"function\"",
        ),
        (
            "POST",
            "/api/v1.0/users",
            br#"{"nickname": "dave", "password": "x"}"#,
            "unknown field \"password\"",
        ),
        (
            "POST",
            "/api/v1.0/users/2/password",
            br#"{"password": "mine"}"#,
            "unknown field \"password\"",
        ),
    ] {
        let response = server.call(method, path, &headers, body);
        let message = response.assert_error(400, "bad request");
        assert!(message.contains(needle), "{method} {path}: {message}");
    }
    // `{}` is an empty body where none is needed.
    let reset = server.call("POST", "/api/v1.0/users/2/password", &headers, b"{}");
    assert_eq!(reset.status, 200, "{reset:?}");
}

/// tests/fixtures/db-v2: a database made by projetyd before roles and
/// ACLs (its README has the passwords). Opened by this build, each of
/// its users has the default ACL.
#[test]
fn a_database_from_before_acls_gives_its_users_the_default_acl() {
    let mut server = Daemon::new(&[]);
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/db-v2");
    std::fs::create_dir_all(&server.db).unwrap();
    for entry in std::fs::read_dir(fixture).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), server.db.join(entry.file_name())).unwrap();
    }
    server.launch();
    let alice = server.token("alice", "dhcXtRqBruIRHryc71dsBwQA");
    let bob = server.token("bob", "AIpUSjEUZD7zzog4-1wKMMGM");
    for (id, token) in [(1, &alice), (2, &bob)] {
        let acls = call(
            &server,
            "GET",
            &format!("/api/v1.0/users/{id}/acls"),
            token,
            &Value::Null,
        );
        assert_eq!(acls.status, 200, "{acls:?}");
        let acls = acls.json();
        assert_eq!(acls.as_array().unwrap().len(), 1, "{acls}");
        assert_eq!(
            (acls[0]["minions"].clone(), acls[0]["functions"].clone()),
            (json!("*"), json!("test.ping"))
        );
        assert_eq!(acls[0]["user_id"], id);
    }
    let out = server.admin("createrole", &["alice", "admin"]);
    assert!(out.status.success(), "{out:?}");
    let made = call(
        &server,
        "POST",
        "/api/v1.0/users",
        &alice,
        &json!({"nickname": "carol"}),
    );
    assert_eq!(made.json()["id"], 3, "ids go on from the old database");
}
