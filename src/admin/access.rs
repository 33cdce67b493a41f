//! The role and ACL commands (`createrole`, `delrole`, `roles`,
//! `createacl`, `acls`, `delacl`): users named by nickname, as the other
//! admin commands name them; the records by role name and ACL id.

use serde::{Deserialize, Serialize};

use super::{FailKind, Reply, Request};
use crate::store::{self, Store};

/// One line of `projetyd roles NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleRow {
    pub id: u64,
    pub role: String,
}

/// One line of `projetyd acls NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclRow {
    pub id: u64,
    pub minions: String,
    pub functions: String,
}

/// The id of user `name`, or `NotFound`.
fn user_id(store: &Store, name: &str) -> Result<u64, store::Error> {
    match store.user_by_name(name)? {
        Some((id, _)) => Ok(id),
        None => Err(store::Error::NotFound {
            what: "user",
            key: name.into(),
        }),
    }
}

/// Carries out a role or ACL request; `None` for any other request.
pub(super) fn run(store: &Store, request: &Request) -> Option<Result<Reply, store::Error>> {
    let result = match request {
        Request::CreateRole { name, role } => create_role(store, name, role),
        Request::DelRole { name, role } => delete_role(store, name, role),
        Request::Roles { name } => roles(store, name),
        Request::CreateAcl {
            name,
            minions,
            functions,
        } => create_acl(store, name, minions, functions),
        Request::Acls { name } => acls(store, name),
        Request::DelAcl { name, id } => delete_acl(store, name, *id),
        _ => return None,
    };
    Some(result)
}

fn create_role(store: &Store, name: &str, role: &str) -> Result<Reply, store::Error> {
    let id = store.create_role(user_id(store, name)?, role)?;
    store.flush()?;
    Ok(Reply::RoleCreated {
        name: name.into(),
        role: role.into(),
        id,
    })
}

fn delete_role(store: &Store, name: &str, role: &str) -> Result<Reply, store::Error> {
    let held = store.roles_of(user_id(store, name)?)?;
    let Some((id, _)) = held.into_iter().find(|(_, r)| r.name == role) else {
        return Ok(Reply::Failed {
            kind: FailKind::NotFound,
            message: format!("user {name} has no role {role:?}"),
        });
    };
    store.delete_role(id)?;
    store.flush()?;
    Ok(Reply::RoleDeleted {
        name: name.into(),
        role: role.into(),
    })
}

fn roles(store: &Store, name: &str) -> Result<Reply, store::Error> {
    let roles = store
        .roles_of(user_id(store, name)?)?
        .into_iter()
        .map(|(id, role)| RoleRow { id, role: role.name })
        .collect();
    Ok(Reply::Roles {
        name: name.into(),
        roles,
    })
}

fn create_acl(store: &Store, name: &str, minions: &str, functions: &str) -> Result<Reply, store::Error> {
    let id = store.create_acl(user_id(store, name)?, minions, functions)?;
    store.flush()?;
    Ok(Reply::AclCreated {
        name: name.into(),
        id,
    })
}

fn acls(store: &Store, name: &str) -> Result<Reply, store::Error> {
    let acls = store
        .acls_of(user_id(store, name)?)?
        .into_iter()
        .map(|(id, acl)| AclRow {
            id,
            minions: acl.minions,
            functions: acl.functions,
        })
        .collect();
    Ok(Reply::Acls {
        name: name.into(),
        acls,
    })
}

fn delete_acl(store: &Store, name: &str, id: u64) -> Result<Reply, store::Error> {
    let owner = user_id(store, name)?;
    if store.acl(id)?.is_none_or(|acl| acl.user_id != owner) {
        return Ok(Reply::Failed {
            kind: FailKind::NotFound,
            message: format!("user {name} has no acl {id}"),
        });
    }
    store.delete_acl(id)?;
    store.flush()?;
    Ok(Reply::AclDeleted {
        name: name.into(),
        id,
    })
}

/// The text printed for a role or ACL reply; `None` for any other reply.
pub(super) fn render(reply: &Reply) -> Option<String> {
    let text = match reply {
        Reply::RoleCreated { name, role, id } => format!("User {name} has role {role} (id {id})"),
        Reply::RoleDeleted { name, role } => format!("User {name} no longer has role {role}"),
        Reply::Roles { roles, .. } => {
            let mut out = format!("{:>6}  ROLE", "ID");
            for row in roles {
                out.push_str(&format!("\n{:>6}  {}", row.id, row.role));
            }
            out
        }
        Reply::AclCreated { name, id } => format!("User {name} has a new acl (id {id})"),
        Reply::AclDeleted { name, id } => format!("Acl {id} of user {name} deleted"),
        Reply::Acls { acls, .. } => {
            let width = acls.iter().map(|a| a.minions.len()).max().unwrap_or(0).max(7);
            let mut out = format!("{:>6}  {:width$}  FUNCTIONS", "ID", "MINIONS");
            for row in acls {
                out.push_str(&format!(
                    "\n{:>6}  {:width$}  {}",
                    row.id, row.minions, row.functions
                ));
            }
            out
        }
        _ => return None,
    };
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::super::execute;
    use super::*;

    fn failed(reply: Reply) -> FailKind {
        match reply {
            Reply::Failed { kind, .. } => kind,
            other => panic!("not a failure: {other:?}"),
        }
    }

    #[test]
    fn roles_are_given_listed_and_taken_away_by_name() {
        let store = Store::temporary().unwrap();
        store.create_user("alice", store::test_hash(), 1).unwrap();
        let create = Request::CreateRole {
            name: "alice".into(),
            role: "admin".into(),
        };
        assert!(matches!(
            execute(&store, &create),
            Reply::RoleCreated { id: 1, .. }
        ));
        assert_eq!(failed(execute(&store, &create)), FailKind::Exists);
        let bad = Request::CreateRole {
            name: "alice".into(),
            role: "a b".into(),
        };
        assert_eq!(failed(execute(&store, &bad)), FailKind::Invalid);
        let nobody = Request::Roles { name: "bob".into() };
        assert_eq!(failed(execute(&store, &nobody)), FailKind::NotFound);
        let listed = execute(&store, &Request::Roles { name: "alice".into() });
        assert!(render(&listed).unwrap().contains("admin"), "{listed:?}");
        let del = Request::DelRole {
            name: "alice".into(),
            role: "admin".into(),
        };
        assert!(matches!(execute(&store, &del), Reply::RoleDeleted { .. }));
        assert_eq!(failed(execute(&store, &del)), FailKind::NotFound);
        assert!(!store.is_admin(1).unwrap());
    }

    #[test]
    fn acls_are_given_listed_and_deleted_by_id_of_their_user() {
        let store = Store::temporary().unwrap();
        store.create_user("alice", store::test_hash(), 1).unwrap();
        store.create_user("bob", store::test_hash(), 1).unwrap();
        let create = Request::CreateAcl {
            name: "alice".into(),
            minions: "web*".into(),
            functions: "pkg.*".into(),
        };
        let Reply::AclCreated { id, .. } = execute(&store, &create) else {
            panic!("createacl failed")
        };
        assert_eq!(failed(execute(&store, &create)), FailKind::Exists);
        let listed = render(&execute(&store, &Request::Acls { name: "alice".into() })).unwrap();
        assert!(
            listed.contains("test.ping") && listed.contains("pkg.*"),
            "{listed}"
        );
        let not_bobs = Request::DelAcl {
            name: "bob".into(),
            id,
        };
        assert_eq!(failed(execute(&store, &not_bobs)), FailKind::NotFound);
        let del = Request::DelAcl {
            name: "alice".into(),
            id,
        };
        assert!(matches!(execute(&store, &del), Reply::AclDeleted { .. }));
        assert!(store.acl(id).unwrap().is_none());
    }
}
