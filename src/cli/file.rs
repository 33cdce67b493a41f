//! The config file of `projetyd serve --config FILE`: TOML whose keys are
//! the flags' names (`max-connections = 100`, `salt-config = "/etc/salt/master"`,
//! `trusted-proxy = ["10.0.0.1"]`, `no-salt = true`). A key the daemon does
//! not know is an error that names it and its line. Flags override the
//! file; the file overrides the defaults. `serve --check` prints what the
//! three give together and checks it (README.md, "Configuration";
//! packaging/projetyd.toml documents every key).

use std::time::Duration;

use super::{config_from, Error, Serve};
use crate::config::{Config, SaltApiSettings, SaltSettings};

/// `flags`, completed by the file they name (if any).
pub fn with_file(flags: Serve) -> Result<Serve, Error> {
    let Some(path) = flags.config.clone() else {
        return Ok(flags);
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|err| Error::Settings(format!("cannot read the config file {}: {err}", path.display())))?;
    let file = parse(&text).map_err(|err| Error::Settings(format!("{}: {err}", path.display())))?;
    Ok(overlay(flags, file))
}

/// The settings a config file holds; the error names the line.
fn parse(text: &str) -> Result<Serve, String> {
    toml::from_str(text).map_err(|err| {
        let line = err
            .span()
            .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        let message = err.message().trim_end();
        match line {
            Some(line) => format!("line {line}: {message}"),
            None => message.to_owned(),
        }
    })
}

/// `over`, with what it leaves unset taken from `under`.
fn overlay(mut over: Serve, under: Serve) -> Serve {
    macro_rules! unset_from_under {
        ($($field:ident),* $(,)?) => {
            $( if over.$field.is_none() { over.$field = under.$field; } )*
        };
    }
    unset_from_under!(
        listen,
        db,
        admin_socket,
        token_lifetime,
        max_token_lifetime,
        body_limit,
        header_timeout,
        body_timeout,
        drain_timeout,
        max_connections,
        max_connections_per_address,
        max_streams,
        presence_interval,
        send_timeout,
        task_workers,
        task_queue,
        task_retention,
        max_wait,
        public_url,
        salt_config,
        salt_key_file,
        salt_interface,
        salt_ret_port,
        salt_sock_dir,
        salt_cachedir,
        salt_pki_dir,
        salt_timeout,
        salt_gather_job_timeout,
        max_salt_timeout,
        max_job_time,
        saltapi_listen,
        saltapi_app,
        saltapi_app_path,
        saltapi_static,
        saltapi_static_path,
    );
    for (over, under) in [
        (&mut over.saltapi_eauth, under.saltapi_eauth),
        (&mut over.saltapi_client, under.saltapi_client),
        (&mut over.saltapi_cors_origin, under.saltapi_cors_origin),
        (&mut over.cors_origin, under.cors_origin),
    ] {
        if over.is_empty() {
            *over = under;
        }
    }
    if over.trusted_proxy.is_empty() {
        over.trusted_proxy = under.trusted_proxy;
    }
    if over.metrics_from.is_empty() {
        over.metrics_from = under.metrics_from;
    }
    // A switch can only turn it on: `no-salt = true` in the file holds.
    over.no_salt |= under.no_salt;
    over.no_saltapi |= under.no_saltapi;
    over.saltapi_hook_without_auth |= under.saltapi_hook_without_auth;
    over
}

/// Every setting that has a default, as a `Serve` (the Salt ones without
/// a default come from the master's config).
fn defaults() -> Serve {
    let config = Config::new();
    let salt = SaltSettings::new();
    let api = SaltApiSettings::new();
    let secs = |d: Duration| Some(d.as_secs());
    Serve {
        config: None,
        check: false,
        listen: Some(config.listen),
        db: Some(config.db_path),
        admin_socket: Some(config.admin_socket),
        token_lifetime: Some(config.token_lifetime),
        max_token_lifetime: Some(config.max_token_lifetime),
        body_limit: Some(config.body_limit),
        header_timeout: secs(config.header_timeout),
        body_timeout: secs(config.body_timeout),
        drain_timeout: secs(config.drain_timeout),
        max_connections: Some(config.max_connections),
        max_connections_per_address: Some(config.max_connections_per_address),
        // A quarter of max-connections unless set.
        max_streams: config.max_streams,
        presence_interval: secs(config.presence_interval),
        send_timeout: secs(config.send_timeout),
        task_workers: Some(config.task_workers),
        task_queue: Some(config.task_queue),
        task_retention: secs(config.task_retention),
        max_wait: secs(config.max_wait),
        public_url: None,
        trusted_proxy: Vec::new(),
        cors_origin: config.cors_origins,
        metrics_from: config.metrics_from,
        no_salt: false,
        salt_config: Some(salt.master_config),
        salt_key_file: None,
        salt_interface: None,
        salt_ret_port: None,
        salt_sock_dir: None,
        salt_cachedir: None,
        salt_pki_dir: None,
        salt_timeout: None,
        salt_gather_job_timeout: None,
        max_salt_timeout: secs(salt.max_timeout),
        max_job_time: secs(salt.max_job_time),
        no_saltapi: false,
        saltapi_listen: api.listen,
        saltapi_eauth: api.eauth,
        saltapi_client: api.clients,
        saltapi_app: api.app,
        saltapi_app_path: Some(api.app_path),
        saltapi_static: api.static_dir,
        saltapi_static_path: Some(api.static_path),
        saltapi_cors_origin: api.cors_origins,
        saltapi_hook_without_auth: api.hook_without_auth,
    }
}

/// `serve --check`: prints the effective settings as a config file would
/// hold them, then checks them (and reads the Salt master's config).
pub fn check(settings: Serve) -> Result<(), Error> {
    let effective = overlay(settings, defaults());
    let text = toml::to_string(&effective)
        .map_err(|err| Error::Settings(format!("cannot show the settings: {err}")))?;
    print!("{text}");
    let config = config_from(effective);
    config
        .validate()
        .map_err(|err| Error::Settings(format!("invalid settings: {err}")))?;
    match &config.salt {
        None => println!("# without a Salt master"),
        Some(salt) => {
            let setup =
                crate::salt::Setup::from_settings(salt).map_err(|err| Error::Settings(err.to_string()))?;
            let master = &setup.master;
            println!(
                "# Salt master (from {} and the salt-* settings): request server {}, event bus {}, \
                 pki {}, cachedir {}, key file {}, timeout {} s, gather-job-timeout {} s",
                salt.master_config.display(),
                master.ret_endpoint(),
                master.event_socket().display(),
                master.pki_dir.display(),
                master.cachedir.display(),
                setup.key_file().display(),
                master.timeout.as_secs(),
                master.gather_job_timeout.as_secs(),
            );
        }
    }
    println!("# the settings are valid");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// Every key set; a struct literal, so that a new flag does not compile
    /// until it is here too.
    pub(super) fn every_key() -> Serve {
        Serve {
            config: None,
            check: false,
            listen: Some("127.0.0.2:5001".parse().unwrap()),
            db: Some("/srv/pj/db".into()),
            admin_socket: Some("/srv/pj/admin.sock".into()),
            token_lifetime: Some(60),
            max_token_lifetime: Some(600),
            body_limit: Some(1000),
            header_timeout: Some(3),
            body_timeout: Some(4),
            drain_timeout: Some(5),
            max_connections: Some(6),
            max_connections_per_address: Some(7),
            max_streams: Some(17),
            presence_interval: Some(18),
            send_timeout: Some(8),
            task_workers: Some(9),
            task_queue: Some(10),
            task_retention: Some(11),
            max_wait: Some(12),
            public_url: Some("https://salt.example.org".into()),
            trusted_proxy: vec!["10.0.0.1".parse().unwrap(), "10.1.0.0/16".parse().unwrap()],
            cors_origin: vec!["https://ui.example.org".into(), "*".into()],
            metrics_from: vec!["192.0.2.0/24".parse().unwrap()],
            no_salt: true,
            salt_config: Some("/lab/master".into()),
            salt_key_file: Some("/lab/key".into()),
            salt_interface: Some("127.0.0.3".into()),
            salt_ret_port: Some(14506),
            salt_sock_dir: Some("/lab/sock".into()),
            salt_cachedir: Some("/lab/cache".into()),
            salt_pki_dir: Some("/lab/pki".into()),
            salt_timeout: Some(13),
            salt_gather_job_timeout: Some(14),
            max_salt_timeout: Some(15),
            max_job_time: Some(16),
            no_saltapi: true,
            saltapi_listen: Some("127.0.0.2:8000".parse().unwrap()),
            saltapi_eauth: vec!["projetyd".into(), "pam".into()],
            saltapi_client: vec!["local".into(), "runner".into()],
            saltapi_app: Some("/srv/saltgui/index.html".into()),
            saltapi_app_path: Some("/ui".into()),
            saltapi_static: Some("/srv/saltgui/static".into()),
            saltapi_static_path: Some("/assets".into()),
            saltapi_cors_origin: vec!["https://gui.example.org".into()],
            saltapi_hook_without_auth: true,
        }
    }

    #[test]
    fn every_flag_is_a_key_and_reads_back() {
        let all = every_key();
        let text = toml::to_string(&all).unwrap();
        assert!(text.contains("max-connections-per-address = 7"), "{text}");
        assert!(
            text.contains(r#"trusted-proxy = ["10.0.0.1", "10.1.0.0/16"]"#),
            "{text}"
        );
        let read = parse(&text).unwrap();
        assert_eq!(read, all);
        // Read into empty flags, the file gives every setting.
        assert_eq!(overlay(Serve::default(), read), all);
    }

    #[test]
    fn flags_override_the_file_and_the_file_the_defaults() {
        let file =
            parse("max-connections = 100\ntask-workers = 3\ntrusted-proxy = [\"10.0.0.1\"]\n").unwrap();
        let flags = Serve {
            max_connections: Some(50),
            ..Serve::default()
        };
        let merged = overlay(overlay(flags, file), defaults());
        assert_eq!(merged.max_connections, Some(50), "the flag wins");
        assert_eq!(merged.task_workers, Some(3), "the file wins over the default");
        assert_eq!(merged.body_limit, Some(65_536), "the default fills the rest");
        assert_eq!(merged.trusted_proxy.len(), 1);
        let config = config_from(merged);
        assert_eq!((config.max_connections, config.task_workers), (50, 3));
    }

    #[test]
    fn an_unknown_key_or_a_wrong_type_names_its_line() {
        let err = parse("listen = \"127.0.0.1:5000\"\n\nmax-conections = 100\n").unwrap_err();
        assert!(err.starts_with("line 3: unknown field `max-conections`"), "{err}");
        let err = parse("task-workers = \"eight\"\n").unwrap_err();
        assert!(err.starts_with("line 1: invalid type"), "{err}");
        let err = parse("trusted-proxy = [\"10.0.0.1/99\"]\n").unwrap_err();
        assert!(err.starts_with("line 1:") && err.contains("prefix"), "{err}");
        // The command-line-only switches are not keys.
        assert!(parse("check = true\n")
            .unwrap_err()
            .contains("unknown field `check`"));
        assert!(parse("config = \"/x\"\n")
            .unwrap_err()
            .contains("unknown field `config`"));
    }

    #[test]
    fn a_file_that_cannot_be_read_is_an_error_naming_it() {
        let flags = Serve {
            config: Some(PathBuf::from("/nowhere/projetyd.toml")),
            ..Serve::default()
        };
        let err = with_file(flags).unwrap_err().to_string();
        assert!(err.contains("/nowhere/projetyd.toml"), "{err}");
    }
}

#[cfg(test)]
mod packaged {
    use super::*;

    /// packaging/projetyd.toml, the file installed in /etc/projetyd, with
    /// every `# key = value` line made live.
    fn uncommented() -> String {
        include_str!("../../packaging/projetyd.toml")
            .lines()
            .filter_map(|line| line.strip_prefix("# "))
            .filter(|line| line.split_once(" = ").is_some_and(|(key, _)| !key.contains(' ')))
            .map(|line| format!("{line}\n"))
            .collect()
    }

    #[test]
    fn the_packaged_file_parses_as_it_is_and_documents_every_key() {
        assert_eq!(
            parse(include_str!("../../packaging/projetyd.toml")),
            Ok(Serve::default())
        );
        let live = uncommented();
        let read = parse(&live).unwrap_or_else(|err| panic!("{err}\n{live}"));
        let documented: Vec<&str> = live
            .lines()
            .filter_map(|l| l.split_once(" = "))
            .map(|(k, _)| k)
            .collect();
        let all = toml::to_string(&tests_every_key()).unwrap();
        for key in all.lines().filter_map(|l| l.split_once(" = ")).map(|(k, _)| k) {
            assert!(
                documented.contains(&key),
                "packaging/projetyd.toml does not document {key}"
            );
        }
        // The values shown are the defaults, where there is one.
        let defaults = defaults();
        assert_eq!(read.listen, defaults.listen);
        assert_eq!(read.body_limit, defaults.body_limit);
        assert_eq!(read.task_workers, defaults.task_workers);
        assert_eq!(read.max_salt_timeout, defaults.max_salt_timeout);
        assert_eq!(read.drain_timeout, defaults.drain_timeout);
        assert_eq!(read.token_lifetime, defaults.token_lifetime);
    }

    fn tests_every_key() -> Serve {
        super::tests::every_key()
    }
}
