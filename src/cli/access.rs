//! The role and ACL commands: `createrole`, `delrole`, `roles`,
//! `createacl`, `acls`, `delacl` (api.md Part B's seed names and the ways
//! to list and remove what they create). Each becomes an admin
//! [`Request`], carried out through the daemon or on the database.

use std::path::PathBuf;

use argh::FromArgs;

use crate::admin::Request;
use crate::config::{DEFAULT_ADMIN_SOCKET, DEFAULT_DB};

/// give a user a role (admin: manages users, roles and ACLs, may run anything)
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "createrole")]
pub struct CreateRole {
    /// user name
    #[argh(positional)]
    pub name: String,
    /// role name: ASCII letters, digits, '_' and '-' (1 to 64)
    #[argh(positional)]
    pub role: String,
    #[argh(
        option,
        default = "DEFAULT_DB.into()",
        description = "database directory (default /var/lib/projetyd)"
    )]
    pub db: PathBuf,
    #[argh(
        option,
        default = "DEFAULT_ADMIN_SOCKET.into()",
        description = "admin socket (default /run/projetyd/admin.sock)"
    )]
    pub admin_socket: PathBuf,
}

/// take a role away from a user
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "delrole")]
pub struct DelRole {
    /// user name
    #[argh(positional)]
    pub name: String,
    /// role name
    #[argh(positional)]
    pub role: String,
    #[argh(
        option,
        default = "DEFAULT_DB.into()",
        description = "database directory (default /var/lib/projetyd)"
    )]
    pub db: PathBuf,
    #[argh(
        option,
        default = "DEFAULT_ADMIN_SOCKET.into()",
        description = "admin socket (default /run/projetyd/admin.sock)"
    )]
    pub admin_socket: PathBuf,
}

/// list a user's roles
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "roles")]
pub struct Roles {
    /// user name
    #[argh(positional)]
    pub name: String,
    #[argh(
        option,
        default = "DEFAULT_DB.into()",
        description = "database directory (default /var/lib/projetyd)"
    )]
    pub db: PathBuf,
    #[argh(
        option,
        default = "DEFAULT_ADMIN_SOCKET.into()",
        description = "admin socket (default /run/projetyd/admin.sock)"
    )]
    pub admin_socket: PathBuf,
}

/// let a user run FUNCTIONS on MINIONS (as Salt's publisher_acl; quote globs)
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "createacl")]
pub struct CreateAcl {
    /// user name
    #[argh(positional)]
    pub name: String,
    /// minion glob, or @runner, @wheel, @jobs
    #[argh(positional)]
    pub minions: String,
    /// function glob or regex, e.g. 'test.*'
    #[argh(positional)]
    pub functions: String,
    #[argh(
        option,
        default = "DEFAULT_DB.into()",
        description = "database directory (default /var/lib/projetyd)"
    )]
    pub db: PathBuf,
    #[argh(
        option,
        default = "DEFAULT_ADMIN_SOCKET.into()",
        description = "admin socket (default /run/projetyd/admin.sock)"
    )]
    pub admin_socket: PathBuf,
}

/// list a user's ACLs with their ids
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "acls")]
pub struct Acls {
    /// user name
    #[argh(positional)]
    pub name: String,
    #[argh(
        option,
        default = "DEFAULT_DB.into()",
        description = "database directory (default /var/lib/projetyd)"
    )]
    pub db: PathBuf,
    #[argh(
        option,
        default = "DEFAULT_ADMIN_SOCKET.into()",
        description = "admin socket (default /run/projetyd/admin.sock)"
    )]
    pub admin_socket: PathBuf,
}

/// delete one of a user's ACLs by its id (see `acls`)
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "delacl")]
pub struct DelAcl {
    /// user name
    #[argh(positional)]
    pub name: String,
    /// the ACL's id
    #[argh(positional)]
    pub id: u64,
    #[argh(
        option,
        default = "DEFAULT_DB.into()",
        description = "database directory (default /var/lib/projetyd)"
    )]
    pub db: PathBuf,
    #[argh(
        option,
        default = "DEFAULT_ADMIN_SOCKET.into()",
        description = "admin socket (default /run/projetyd/admin.sock)"
    )]
    pub admin_socket: PathBuf,
}

/// The database, the admin socket and the admin request a command names.
pub(super) type Parts = (PathBuf, PathBuf, Request);

impl CreateRole {
    pub(super) fn parts(self) -> Parts {
        let request = Request::CreateRole {
            name: self.name,
            role: self.role,
        };
        (self.db, self.admin_socket, request)
    }
}

impl DelRole {
    pub(super) fn parts(self) -> Parts {
        let request = Request::DelRole {
            name: self.name,
            role: self.role,
        };
        (self.db, self.admin_socket, request)
    }
}

impl Roles {
    pub(super) fn parts(self) -> Parts {
        (self.db, self.admin_socket, Request::Roles { name: self.name })
    }
}

impl CreateAcl {
    pub(super) fn parts(self) -> Parts {
        let request = Request::CreateAcl {
            name: self.name,
            minions: self.minions,
            functions: self.functions,
        };
        (self.db, self.admin_socket, request)
    }
}

impl Acls {
    pub(super) fn parts(self) -> Parts {
        (self.db, self.admin_socket, Request::Acls { name: self.name })
    }
}

impl DelAcl {
    pub(super) fn parts(self) -> Parts {
        let request = Request::DelAcl {
            name: self.name,
            id: self.id,
        };
        (self.db, self.admin_socket, request)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Cli, Command};
    use super::*;

    #[test]
    fn the_seed_commands_parse() {
        let parse = |args: &[&str]| Cli::from_args(&["projetyd"], args).map(|cli| cli.command);
        let Command::CreateAcl(acl) = parse(&["createacl", "alice", "web*", "pkg.*"]).unwrap() else {
            panic!("not createacl")
        };
        assert_eq!((acl.minions.as_str(), acl.functions.as_str()), ("web*", "pkg.*"));
        assert_eq!(acl.db, PathBuf::from(DEFAULT_DB));
        assert!(matches!(
            parse(&["createrole", "alice", "admin"]).unwrap(),
            Command::CreateRole(CreateRole { ref role, .. }) if role == "admin"
        ));
        assert!(matches!(
            parse(&["delacl", "alice", "7"]).unwrap(),
            Command::DelAcl(DelAcl { id: 7, .. })
        ));
        assert!(parse(&["delacl", "alice", "x"]).is_err());
        assert!(
            parse(&["createacl", "alice", "*"]).is_err(),
            "both fields are needed"
        );
        assert!(parse(&["roles", "alice", "--db", "/tmp/x"]).is_ok());
    }
}
