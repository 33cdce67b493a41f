//! The command line: `serve` runs the daemon; `adduser`, `passwd`,
//! `deluser` and `users` administer users, and the commands of `access`
//! their roles and ACLs, through the running daemon or directly on its
//! database. The doc comments are the `--help` text.

// That help text is plain text, not Markdown: `<cachedir>` and a bare URL
// are what the user should read there.
#![allow(rustdoc::invalid_html_tags, rustdoc::bare_urls)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use argh::FromArgs;

mod access;
mod file;

use crate::admin::{self, Request};
use crate::config::{Config, SaltApiSettings, SaltSettings, DEFAULT_ADMIN_SOCKET, DEFAULT_DB};
use crate::server;

/// projetyd: an HTTP API in front of a SaltStack master.
#[derive(FromArgs, Debug, PartialEq)]
pub struct Cli {
    #[argh(subcommand)]
    pub command: Command,
}

#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand)]
// Parsed once per process: the size difference between variants is moot.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    Serve(Serve),
    AddUser(AddUser),
    Passwd(Passwd),
    DelUser(DelUser),
    Users(Users),
    CreateRole(access::CreateRole),
    DelRole(access::DelRole),
    Roles(access::Roles),
    CreateAcl(access::CreateAcl),
    Acls(access::Acls),
    DelAcl(access::DelAcl),
    Db(Db),
}

/// run the daemon (logs go to stderr; set RUST_LOG=debug for more)
// The same struct is the config file's shape (`--config`, `cli::file`):
// every flag is a key of the same name, and a flag overrides the file.
#[derive(FromArgs, Debug, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[argh(subcommand, name = "serve")]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Serve {
    /// a TOML file of settings, one key per flag (e.g. max-connections = 100); flags override it
    #[argh(option)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// print the effective settings (defaults, file, flags) and check them, then exit
    #[argh(switch)]
    #[serde(skip)]
    pub check: bool,
    /// address to listen on (default 127.0.0.1:5000; port 0 picks a free one)
    #[argh(option)]
    pub listen: Option<SocketAddr>,
    /// database directory (default /var/lib/projetyd)
    #[argh(option)]
    pub db: Option<PathBuf>,
    /// admin socket path (default /run/projetyd/admin.sock)
    #[argh(option)]
    pub admin_socket: Option<PathBuf>,
    /// token lifetime in seconds when the client does not ask (default 600)
    #[argh(option)]
    pub token_lifetime: Option<u64>,
    /// longest token lifetime a client may ask for, in seconds (default 86400)
    #[argh(option)]
    pub max_token_lifetime: Option<u64>,
    /// largest request body in bytes (default 65536)
    #[argh(option)]
    pub body_limit: Option<usize>,
    /// seconds a client has to send request headers (default 10)
    #[argh(option)]
    pub header_timeout: Option<u64>,
    /// seconds a client has to send a request body (default 30)
    #[argh(option)]
    pub body_timeout: Option<u64>,
    /// seconds open requests get to finish at shutdown (default 10)
    #[argh(option)]
    pub drain_timeout: Option<u64>,
    /// connections served at once (default 4096)
    #[argh(option)]
    pub max_connections: Option<usize>,
    /// connections one client address may hold open (default 256; trusted proxies are not counted)
    #[argh(option)]
    pub max_connections_per_address: Option<usize>,
    /// event streams open at once, both surfaces (default: a quarter of --max-connections; must be below it)
    #[argh(option)]
    pub max_streams: Option<usize>,
    /// seconds between minion presence checks while an event stream watches presence (default 30)
    #[argh(option)]
    pub presence_interval: Option<u64>,
    /// seconds a client has to read a response before its connection is closed (default 30)
    #[argh(option)]
    pub send_timeout: Option<u64>,
    /// tasks running at once (default 8; about the master's worker_threads)
    #[argh(option)]
    pub task_workers: Option<usize>,
    /// tasks waiting to run before new ones get 503 (default 10000)
    #[argh(option)]
    pub task_queue: Option<usize>,
    /// seconds finished task records are kept (default 604800, 7 days)
    #[argh(option)]
    pub task_retention: Option<u64>,
    /// longest ?wait= on a task status, in seconds (default 60)
    #[argh(option)]
    pub max_wait: Option<u64>,
    /// base of the Location URLs, e.g. https://salt.example.org (default: from Host)
    #[argh(option)]
    pub public_url: Option<String>,
    /// a reverse proxy (ADDR or ADDR/PREFIX) whose X-Forwarded-For or Forwarded header names the client; repeat for several
    #[argh(option)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trusted_proxy: Vec<crate::net::Net>,
    /// an origin (e.g. https://ui.example.org, or `*` for any) allowed to call the v1.0 API from a browser; repeat for several
    #[argh(option)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cors_origin: Vec<String>,
    /// an address (ADDR or ADDR/PREFIX) that may read /metrics without a token (default: loopback); repeat for several; others need an admin's token
    #[argh(option)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metrics_from: Vec<crate::net::Net>,
    /// run without a Salt master: users and tokens only
    #[argh(switch)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_salt: bool,
    /// the Salt master's config file (default /etc/salt/master)
    #[argh(option)]
    pub salt_config: Option<PathBuf>,
    /// the master's key file (default: <cachedir>/.<user>_key from its config)
    #[argh(option)]
    pub salt_key_file: Option<PathBuf>,
    /// address of the master's request server (overrides `interface`)
    #[argh(option)]
    pub salt_interface: Option<String>,
    /// port of the master's request server (overrides `ret_port`)
    #[argh(option)]
    pub salt_ret_port: Option<u16>,
    /// the master's socket directory (overrides `sock_dir`)
    #[argh(option)]
    pub salt_sock_dir: Option<PathBuf>,
    /// the master's cache directory (overrides `cachedir`)
    #[argh(option)]
    pub salt_cachedir: Option<PathBuf>,
    /// the master's pki directory (overrides `pki_dir`)
    #[argh(option)]
    pub salt_pki_dir: Option<PathBuf>,
    /// seconds before silent minions are checked (overrides `timeout`)
    #[argh(option)]
    pub salt_timeout: Option<u64>,
    /// seconds a find_job check may take (overrides `gather_job_timeout`)
    #[argh(option)]
    pub salt_gather_job_timeout: Option<u64>,
    /// largest ?timeout= a client may ask for, in seconds (default 300)
    #[argh(option)]
    pub max_salt_timeout: Option<u64>,
    /// longest a job may run while its minions say they are busy, in
    /// seconds (default 3600)
    #[argh(option)]
    pub max_job_time: Option<u64>,
    /// serve no salt-api surface (rest_cherrypy's paths at the root)
    #[argh(switch)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_saltapi: bool,
    /// a second address that serves only the salt-api surface (default: none; it is served on --listen)
    #[argh(option)]
    pub saltapi_listen: Option<SocketAddr>,
    /// an eauth name projetyd's users may log in with on the salt-api surface; repeat for several (default projetyd)
    #[argh(option)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub saltapi_eauth: Vec<String>,
    /// a salt-api client that may run, replacing the master's netapi_enable_clients; repeat for several
    #[argh(option)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub saltapi_client: Vec<String>,
    /// a file (a web UI's index.html) served at --saltapi-app-path, as rest_cherrypy's `app`
    #[argh(option)]
    pub saltapi_app: Option<PathBuf>,
    /// where --saltapi-app is served (default /app)
    #[argh(option)]
    pub saltapi_app_path: Option<String>,
    /// a directory served under --saltapi-static-path, as rest_cherrypy's `static`
    #[argh(option)]
    pub saltapi_static: Option<PathBuf>,
    /// where --saltapi-static is served (default /static)
    #[argh(option)]
    pub saltapi_static_path: Option<String>,
    /// an origin allowed cross-origin requests with credentials (`*`: any, as salt-api); repeat for several
    #[argh(option)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub saltapi_cors_origin: Vec<String>,
    /// take POST /hook without a token, as rest_cherrypy's webhook_disable_auth
    #[argh(switch)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub saltapi_hook_without_auth: bool,
}

/// create a user and print its generated password
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "adduser")]
pub struct AddUser {
    /// user name: ASCII letters, digits, '.', '_', '-' (1 to 64)
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

/// give a user a new generated password and revoke its tokens
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "passwd")]
pub struct Passwd {
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

/// delete a user and its tokens
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "deluser")]
pub struct DelUser {
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

/// list the users
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "users")]
pub struct Users {
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

/// check, back up, restore or repair the database
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "db")]
pub struct Db {
    #[argh(subcommand)]
    pub action: DbAction,
}

#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand)]
pub enum DbAction {
    Check(DbCheck),
    Backup(DbBackup),
    Restore(DbRestore),
    Repair(DbRepair),
}

/// report what the database holds and whether it is damaged (exit 1 if so)
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "check")]
pub struct DbCheck {
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

/// write a consistent copy of the database to FILE (the daemon may run)
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "backup")]
pub struct DbBackup {
    /// the backup file to write
    #[argh(positional)]
    pub file: PathBuf,
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

/// replace the database with the backup FILE (the daemon must be stopped)
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "restore")]
pub struct DbRestore {
    /// the backup file to restore
    #[argh(positional)]
    pub file: PathBuf,
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

/// keep what a damaged database still holds and make it usable again (the daemon must be stopped)
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "repair")]
pub struct DbRepair {
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

/// Why a command failed; printed as `projetyd: <message>`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Serve(#[from] server::Error),
    #[error(transparent)]
    Admin(#[from] admin::Error),
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    #[error("the database is damaged (see above)")]
    Damaged,
    #[error("{0}")]
    Settings(String),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), Error> {
    let (db, socket, request) = match cli.command {
        Command::Serve(serve) => return run_serve(serve),
        Command::AddUser(c) => (c.db, c.admin_socket, Request::AddUser { name: c.name }),
        Command::Passwd(c) => (c.db, c.admin_socket, Request::Passwd { name: c.name }),
        Command::DelUser(c) => (c.db, c.admin_socket, Request::DelUser { name: c.name }),
        Command::Users(c) => (c.db, c.admin_socket, Request::Users),
        Command::CreateRole(c) => c.parts(),
        Command::DelRole(c) => c.parts(),
        Command::Roles(c) => c.parts(),
        Command::CreateAcl(c) => c.parts(),
        Command::Acls(c) => c.parts(),
        Command::DelAcl(c) => c.parts(),
        Command::Db(db) => return run_db(db.action),
    };
    let reply = admin::command(&db, &socket, &request)?;
    println!("{}", admin::render(&reply));
    Ok(())
}

fn run_db(action: DbAction) -> Result<(), Error> {
    // Files the command creates (a backup, a restored database) are private.
    crate::private_umask();
    let text = match action {
        DbAction::Check(c) => {
            let checked = admin::db::check(&c.db, &c.admin_socket)?;
            println!("{}", checked.text);
            return if checked.healthy {
                Ok(())
            } else {
                Err(Error::Damaged)
            };
        }
        DbAction::Backup(c) => admin::db::backup(&c.db, &c.admin_socket, &c.file)?,
        DbAction::Restore(c) => admin::db::restore(&c.db, &c.admin_socket, &c.file)?,
        DbAction::Repair(c) => admin::db::repair(&c.db, &c.admin_socket)?,
    };
    println!("{text}");
    Ok(())
}

fn run_serve(flags: Serve) -> Result<(), Error> {
    crate::private_umask();
    let check = flags.check;
    let settings = file::with_file(flags)?;
    if check {
        return file::check(settings);
    }
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let config = config_from(settings);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    runtime.block_on(server::serve(config))?;
    Ok(())
}

/// The defaults, overridden by whatever flags were given.
pub fn config_from(flags: Serve) -> Config {
    let mut config = Config::new();
    let secs = Duration::from_secs;
    if let Some(v) = flags.listen {
        config.listen = v;
    }
    if let Some(v) = flags.db {
        config.db_path = v;
    }
    if let Some(v) = flags.admin_socket {
        config.admin_socket = v;
    }
    if let Some(v) = flags.token_lifetime {
        config.token_lifetime = v;
    }
    if let Some(v) = flags.max_token_lifetime {
        config.max_token_lifetime = v;
    }
    if let Some(v) = flags.body_limit {
        config.body_limit = v;
    }
    if let Some(v) = flags.header_timeout {
        config.header_timeout = secs(v);
    }
    if let Some(v) = flags.body_timeout {
        config.body_timeout = secs(v);
    }
    if let Some(v) = flags.drain_timeout {
        config.drain_timeout = secs(v);
    }
    if let Some(v) = flags.max_connections {
        config.max_connections = v;
    }
    if let Some(v) = flags.max_connections_per_address {
        config.max_connections_per_address = v;
    }
    config.max_streams = flags.max_streams;
    if let Some(v) = flags.presence_interval {
        config.presence_interval = secs(v);
    }
    if let Some(v) = flags.send_timeout {
        config.send_timeout = secs(v);
    }
    if let Some(v) = flags.task_workers {
        config.task_workers = v;
    }
    if let Some(v) = flags.task_queue {
        config.task_queue = v;
    }
    if let Some(v) = flags.task_retention {
        config.task_retention = secs(v);
    }
    if let Some(v) = flags.max_wait {
        config.max_wait = secs(v);
    }
    config.public_url = flags.public_url;
    config.trusted_proxies = flags.trusted_proxy;
    config.cors_origins = flags.cors_origin;
    if !flags.metrics_from.is_empty() {
        config.metrics_from = flags.metrics_from;
    }
    config.salt = (!flags.no_salt).then(|| {
        let mut salt = SaltSettings::new();
        if let Some(v) = flags.salt_config {
            salt.master_config = v;
        }
        salt.key_file = flags.salt_key_file;
        salt.interface = flags.salt_interface;
        salt.ret_port = flags.salt_ret_port;
        salt.sock_dir = flags.salt_sock_dir;
        salt.cachedir = flags.salt_cachedir;
        salt.pki_dir = flags.salt_pki_dir;
        salt.timeout = flags.salt_timeout.map(secs);
        salt.gather_job_timeout = flags.salt_gather_job_timeout.map(secs);
        if let Some(v) = flags.max_salt_timeout {
            salt.max_timeout = secs(v);
        }
        if let Some(v) = flags.max_job_time {
            salt.max_job_time = secs(v);
        }
        salt
    });
    config.saltapi = (!flags.no_saltapi).then(|| {
        let mut api = SaltApiSettings::new();
        api.listen = flags.saltapi_listen;
        if !flags.saltapi_eauth.is_empty() {
            api.eauth = flags.saltapi_eauth;
        }
        api.clients = flags.saltapi_client;
        api.app = flags.saltapi_app;
        if let Some(v) = flags.saltapi_app_path {
            api.app_path = v;
        }
        api.static_dir = flags.saltapi_static;
        if let Some(v) = flags.saltapi_static_path {
            api.static_path = v;
        }
        api.cors_origins = flags.saltapi_cors_origin;
        api.hook_without_auth = flags.saltapi_hook_without_auth;
        api
    });
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, argh::EarlyExit> {
        Cli::from_args(&["projetyd"], args)
    }

    #[test]
    fn admin_commands_parse_with_defaults() {
        let cli = parse(&["adduser", "alice"]).unwrap();
        let Command::AddUser(add) = cli.command else {
            panic!("not adduser")
        };
        assert_eq!(add.name, "alice");
        assert_eq!(add.db, PathBuf::from(DEFAULT_DB));
        assert_eq!(add.admin_socket, PathBuf::from(DEFAULT_ADMIN_SOCKET));
        assert!(parse(&["users", "--db", "/tmp/x"]).is_ok());
        assert!(parse(&["adduser"]).is_err(), "a name is required");
        assert!(
            parse(&["adduser", "a", "--password", "x"]).is_err(),
            "never a password in argv"
        );
    }

    #[test]
    fn serve_flags_override_defaults() {
        let cli = parse(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--body-limit",
            "10",
            "--header-timeout",
            "3",
        ])
        .unwrap();
        let Command::Serve(serve) = cli.command else {
            panic!("not serve")
        };
        let config = config_from(serve);
        assert_eq!(config.listen.port(), 0);
        assert_eq!(config.body_limit, 10);
        assert_eq!(config.header_timeout, Duration::from_secs(3));
        assert_eq!(config.token_lifetime, 600);
        let salt = config.salt.expect("salt is on by default");
        assert_eq!(salt.master_config, PathBuf::from("/etc/salt/master"));
    }

    #[test]
    fn no_salt_and_salt_overrides() {
        let Command::Serve(serve) = parse(&["serve", "--no-salt"]).unwrap().command else {
            panic!()
        };
        assert!(config_from(serve).salt.is_none());
        let args = [
            "serve",
            "--salt-config",
            "/lab/master",
            "--salt-ret-port",
            "14506",
            "--salt-timeout",
            "2",
        ];
        let Command::Serve(serve) = parse(&args).unwrap().command else {
            panic!()
        };
        let salt = config_from(serve).salt.unwrap();
        assert_eq!(salt.ret_port, Some(14506));
        assert_eq!(salt.timeout, Some(Duration::from_secs(2)));
    }
}
