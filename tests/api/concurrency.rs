//! Many clients at once: every authenticated request is answered, on fresh
//! connections and on kept-alive ones.

use std::sync::Arc;

use crate::common::{bearer, Daemon};

const THREADS: usize = 32;
const REQUESTS: usize = 20;

#[test]
fn concurrent_authenticated_requests_all_succeed() {
    let server = Arc::new(Daemon::start(&[]));
    let password = server.adduser("alice");
    let token = Arc::new(server.token("alice", &password));
    let threads: Vec<_> = (0..THREADS)
        .map(|i| {
            let (server, token) = (server.clone(), token.clone());
            std::thread::spawn(move || {
                let mut statuses = Vec::new();
                if i % 2 == 0 {
                    // A new connection per request.
                    for _ in 0..REQUESTS {
                        statuses.push(server.get("/api/v1.0/users", Some(&token)).status);
                    }
                } else {
                    // One kept-alive connection for all of them.
                    let mut conn = server.conn();
                    let auth = bearer(&token);
                    for _ in 0..REQUESTS {
                        let response = conn.request(
                            "GET",
                            "/api/v1.0/users",
                            &[("Authorization", auth.as_bytes())],
                            b"",
                        );
                        assert_eq!(response.json()["users"][0]["nickname"], "alice");
                        statuses.push(response.status);
                    }
                }
                statuses
            })
        })
        .collect();
    let statuses: Vec<u16> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    assert_eq!(statuses.len(), THREADS * REQUESTS);
    let failed: Vec<&u16> = statuses.iter().filter(|&&s| s != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of {} failed: {failed:?}",
        failed.len(),
        statuses.len()
    );
}

#[test]
fn concurrent_logins_each_get_their_own_token() {
    let server = Arc::new(Daemon::start(&[]));
    let passwords: Vec<(String, String)> = ["alice", "bob", "carol", "dave"]
        .iter()
        .map(|name| (name.to_string(), server.adduser(name)))
        .collect();
    let threads: Vec<_> = passwords
        .into_iter()
        .map(|(name, password)| {
            let server = server.clone();
            std::thread::spawn(move || (0..2).map(|_| server.token(&name, &password)).collect::<Vec<_>>())
        })
        .collect();
    let mut tokens: Vec<String> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    for token in &tokens {
        assert_eq!(server.get("/api/v1.0/users", Some(token)).status, 200);
    }
    tokens.sort();
    tokens.dedup();
    assert_eq!(tokens.len(), 8);
}
