//! The salt-api (rest_cherrypy) surface, issue [4/7]: what pepper, SaltGUI
//! and the other salt-api clients send, read as salt-api reads it. Built in
//! steps; so far the request bodies ([`lowstate`]) and the answer formats
//! ([`format`](mod@format)), and a user's rights in salt-api's `perms` form ([`perms`]).

pub mod format;
pub mod lowstate;
pub mod perms;
