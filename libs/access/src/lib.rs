//! Least privilege inside the fleet: what each service may do on NATS and in Redis, written
//! once as data, and the server configuration that grants exactly that (a nats-server
//! `authorization` block, Redis ACL lines).
//!
//! Each service connects as its own NATS user (named after the service) and, where it keeps
//! state in Redis, as its own Redis user (the same name). `just up` and the end-to-end tests
//! render their servers' configuration from here; `inboxctl fleet nats-authorization` and
//! `inboxctl fleet redis-acl` print it for an operator's servers (docs/deploy.md).
//!
//! What NATS grants, per service:
//! - publish on the subjects it sends (stream subjects and core-NATS signals), and subscribe to
//!   the core-NATS subjects it listens on;
//! - its replies only: requests carry a reply subject under its own inbox prefix
//!   ([`inbox_prefix`]), the only inbox it may subscribe to, so it reads no one else's answers;
//! - the JetStream API for its own consumers (create, info, pull, ack, dead letters), stream
//!   info for every stream, and create/update only for the streams it manages ([`STREAMS`]:
//!   the stream's main publisher); the others wait at start until the stream is there;
//! - consumers named at run time (search's, one per replica; the gateway's ordered consumers)
//!   on a stream, but never under another service's durable name there.

use sha2::{Digest, Sha256};

/// The fleet's services; each is one NATS user and, with Redis state, one Redis user.
pub const SERVICES: [&str; 7] =
    ["gateway", "channel-ingest", "conversation", "routing", "notification", "search", "metrics"];

/// The JetStream streams, each with the service that creates it and updates its configuration.
pub const STREAMS: [(&str, &str); 4] =
    [("INGEST", "channel-ingest"), ("EVENTS", "conversation"), ("OUTBOUND", "conversation"), ("DLQ", "conversation")];

/// The service that creates and updates `stream`'s configuration.
pub fn stream_manager(stream: &str) -> Option<&'static str> {
    STREAMS.iter().find(|(name, _)| *name == stream).map(|(_, manager)| *manager)
}

/// How a service reads a stream.
#[derive(Debug, Clone, Copy)]
enum Reads {
    /// A durable pull consumer with explicit ack and dead letters under this fixed name.
    Durable { stream: &'static str, name: &'static str },
    /// A durable consumer per replica, named at run time (`search-<replica id>`).
    PerReplica { stream: &'static str },
    /// Ordered consumers (no ack), created and deleted by the client under server-chosen names.
    Ordered { stream: &'static str },
}

/// What one service does on NATS.
struct NatsGrant {
    service: &'static str,
    /// Subjects it publishes on: into streams (with an awaited ack) or core NATS.
    publish: &'static [&'static str],
    /// Core-NATS subjects it subscribes to (besides its own inbox).
    subscribe: &'static [&'static str],
    reads: &'static [Reads],
}

/// The fleet's traffic on NATS: subjects as `libs/bus/src/subjects.rs` and the services spell
/// them. A subject missing here shows as a permissions violation in the service's log and a
/// failing end-to-end test (the tests' fleet runs with these users).
const NATS: [NatsGrant; 7] = [
    NatsGrant {
        service: "gateway",
        // Token revocations between replicas, agent typing (to agents and to web chat
        // visitors), who views which conversation.
        publish: &["gateway.revocations", "typing.>", "webchat.visitor.>", "presence.>"],
        subscribe: &["gateway.revocations", "typing.>", "presence.>", "notify.>"],
        // Live push and replay read EVENTS with ordered consumers.
        reads: &[Reads::Ordered { stream: "EVENTS" }],
    },
    NatsGrant {
        service: "channel-ingest",
        // Inbound traffic, delivery updates, live frames to its visitors (any replica holds
        // the socket), a visitor typing (under the gateway's typing subjects).
        publish: &["ingest.>", "events.*.message.delivery_updated", "webchat.visitor.>", "typing.*.visitor.>"],
        subscribe: &["webchat.visitor.>"],
        reads: &[
            Reads::Durable { stream: "OUTBOUND", name: "channel-ingest-whatsapp" },
            Reads::Durable { stream: "OUTBOUND", name: "channel-ingest-webchat" },
        ],
    },
    NatsGrant {
        service: "conversation",
        publish: &["events.>", "outbound.>"],
        subscribe: &[],
        reads: &[
            Reads::Durable { stream: "INGEST", name: "conversation" },
            Reads::Durable { stream: "EVENTS", name: "conversation-routing" },
        ],
    },
    NatsGrant {
        service: "routing",
        publish: &["events.*.routing.>"],
        subscribe: &[],
        reads: &[Reads::Durable { stream: "EVENTS", name: "routing" }],
    },
    NatsGrant {
        service: "notification",
        // Each person's live notifications; SLA warnings and breaches as events.
        publish: &["notify.>", "events.*.sla.>"],
        subscribe: &[],
        reads: &[Reads::Durable { stream: "EVENTS", name: "notification" }],
    },
    NatsGrant {
        service: "search",
        publish: &["events.*.search.>"],
        subscribe: &[],
        reads: &[Reads::PerReplica { stream: "EVENTS" }],
    },
    NatsGrant {
        service: "metrics",
        publish: &[],
        subscribe: &[],
        reads: &[Reads::Durable { stream: "EVENTS", name: "metrics" }],
    },
];

/// The inbox prefix of a NATS user's requests: `_INBOX_<user>`, so that a user subscribes to
/// its own replies only.
pub fn inbox_prefix(user: &str) -> String {
    format!("_INBOX_{user}")
}

/// A NATS user's permissions: subjects (with wildcards) it may publish on, the exceptions, and
/// the subjects it may subscribe to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsPermissions {
    pub publish: Vec<String>,
    pub publish_deny: Vec<String>,
    pub subscribe: Vec<String>,
}

/// The permissions of `service`'s NATS user; `None` for a name that is not a service.
pub fn nats_permissions(service: &str) -> Option<NatsPermissions> {
    let grant = NATS.iter().find(|g| g.service == service)?;
    let mut publish: Vec<String> = vec!["$JS.API.INFO".into()];
    publish.extend(STREAMS.iter().map(|(stream, _)| format!("$JS.API.STREAM.INFO.{stream}")));
    for (stream, _) in STREAMS.iter().filter(|(_, manager)| *manager == service) {
        publish.push(format!("$JS.API.STREAM.CREATE.{stream}"));
        publish.push(format!("$JS.API.STREAM.UPDATE.{stream}"));
    }
    publish.extend(grant.publish.iter().map(|s| (*s).to_owned()));
    let mut publish_deny = Vec::new();
    for reads in grant.reads {
        match *reads {
            Reads::Durable { stream, name } => publish.extend(consumer_subjects(stream, name, true)),
            Reads::PerReplica { stream } => {
                publish.extend(consumer_subjects(stream, "*", true));
                publish_deny.extend(others_durables(stream, service));
            }
            Reads::Ordered { stream } => {
                publish.push(format!("$JS.API.CONSUMER.CREATE.{stream}"));
                publish.extend(consumer_subjects(stream, "*", false));
                publish.push(format!("$JS.API.CONSUMER.DELETE.{stream}.*"));
                publish_deny.extend(others_durables(stream, service));
            }
        }
    }
    publish_deny.sort();
    publish_deny.dedup();
    let mut subscribe = vec![format!("{}.>", inbox_prefix(service))];
    subscribe.extend(grant.subscribe.iter().map(|s| (*s).to_owned()));
    Some(NatsPermissions { publish, publish_deny, subscribe })
}

/// The JetStream API subjects of reading `stream` through consumer `name` (`*`: any name):
/// create (with or without a filter subject in the name), info, pull; with `acked`, also its
/// acks and its dead letters.
fn consumer_subjects(stream: &str, name: &str, acked: bool) -> Vec<String> {
    let mut subjects = vec![
        format!("$JS.API.CONSUMER.CREATE.{stream}.{name}"),
        format!("$JS.API.CONSUMER.CREATE.{stream}.{name}.>"),
        format!("$JS.API.CONSUMER.INFO.{stream}.{name}"),
        format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.{name}"),
    ];
    if acked {
        subjects.push(format!("$JS.ACK.{stream}.{name}.>"));
        subjects.push(format!("dlq.{stream}.{name}"));
    }
    subjects
}

/// Every subject that touches another service's durable consumer on `stream`: what a service
/// reading under run-time names must never reach.
fn others_durables(stream: &str, service: &str) -> Vec<String> {
    NATS.iter()
        .filter(|g| g.service != service)
        .flat_map(|g| g.reads.iter())
        .filter_map(|reads| match *reads {
            Reads::Durable { stream: s, name } if s == stream => Some(name),
            _ => None,
        })
        .flat_map(|name| {
            let mut subjects = consumer_subjects(stream, name, true);
            subjects.push(format!("$JS.API.CONSUMER.DELETE.{stream}.{name}"));
            subjects
        })
        .collect()
}

/// The variable holding `service`'s password for `system` (`nats`, `redis`):
/// `NATS_PASSWORD_CHANNEL_INGEST`.
pub fn password_variable(system: &str, service: &str) -> String {
    format!("{}_PASSWORD_{}", system.to_uppercase(), service.to_uppercase().replace('-', "_"))
}

/// A nats-server `authorization { users = [...] }` block with one user per service, each
/// limited to its permissions, with the password `password` gives for it (in the file as it
/// is: keep the file as secret as the passwords; nats-server would parse a password taken from
/// an environment variable as a value, a number when it starts with a digit). `full_access`,
/// when given, adds a user allowed everything (`(user, password)`, for tests that publish and
/// read as the outside world).
pub fn nats_authorization(password: impl Fn(&str) -> String, full_access: Option<(&str, &str)>) -> String {
    let list = |subjects: &[String]| subjects.iter().map(|s| quoted(s)).collect::<Vec<_>>().join(", ");
    let mut out = String::from("authorization {\n  users = [\n");
    for service in SERVICES {
        let Some(p) = nats_permissions(service) else { continue };
        let password = quoted(&password(service));
        out.push_str(&format!("    {{\n      user: {}\n      password: {password}\n", quoted(service)));
        out.push_str("      permissions: {\n");
        out.push_str(&format!("        publish: {{\n          allow: [{}]\n", list(&p.publish)));
        if !p.publish_deny.is_empty() {
            out.push_str(&format!("          deny: [{}]\n", list(&p.publish_deny)));
        }
        out.push_str("        }\n");
        out.push_str(&format!("        subscribe: {{ allow: [{}] }}\n", list(&p.subscribe)));
        out.push_str("      }\n    }\n");
    }
    if let Some((user, password)) = full_access {
        out.push_str(&format!(
            "    {{ user: {}, password: {}, permissions: {{ publish: \">\", subscribe: \">\" }} }}\n",
            quoted(user),
            quoted(password)
        ));
    }
    out.push_str("  ]\n}\n");
    out
}

fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The services that keep state in Redis, each under its own namespace of the deployment's
/// key prefix (`inbox:` + `gateway:` = each service's default `redis.key_prefix`).
pub const REDIS_NAMESPACES: [(&str, &str); 3] =
    [("gateway", "gateway"), ("channel-ingest", "ingest"), ("routing", "routing")];

/// The commands the fleet sends to Redis (scripts' `redis.call`s included: Redis checks them
/// against the caller's ACL too). Everything else, administration and `KEYS` among it, is
/// refused.
pub const REDIS_COMMANDS: [&str; 21] = [
    "ping",
    "get",
    "set",
    "getdel",
    "mget",
    "del",
    "incr",
    // The client's `incr(key, n)`.
    "incrby",
    "decr",
    "expire",
    "pexpire",
    "zadd",
    "zrem",
    "zrange",
    "zrangebyscore",
    "zremrangebyscore",
    "multi",
    "exec",
    "discard",
    "evalsha",
    "script|load",
];

/// The default user of a fleet's Redis: it may only `PING` (health checks without a password);
/// `AUTH` as a service's user is always possible.
pub const REDIS_DEFAULT_USER_PING_ONLY: &str = "user default on nopass resetkeys resetchannels -@all +ping";

/// `service`'s key prefix under the deployment's `base` (`inbox:` → `inbox:gateway:`); `None`
/// for a service without Redis state.
pub fn redis_key_prefix(base: &str, service: &str) -> Option<String> {
    REDIS_NAMESPACES.iter().find(|(s, _)| *s == service).map(|(_, namespace)| format!("{base}{namespace}:"))
}

/// One Redis ACL line (`ACL SETUSER` rules, or a line of an aclfile) for `service`: its keys
/// only, the fleet's commands only, no pub/sub channels, and the password stored as its
/// SHA-256 (`#<hex>`), never in clear.
pub fn redis_acl_line(base: &str, service: &str, password: &str) -> Option<String> {
    let prefix = redis_key_prefix(base, service)?;
    let commands: Vec<String> = REDIS_COMMANDS.iter().map(|c| format!("+{c}")).collect();
    Some(format!(
        "user {service} on #{} resetkeys ~{prefix}* resetchannels -@all {}",
        hex::encode(Sha256::digest(password.as_bytes())),
        commands.join(" ")
    ))
}

/// A Redis aclfile: `default_user` (e.g. [`REDIS_DEFAULT_USER_PING_ONLY`]; an aclfile without
/// a default user gets one allowed everything) and one line per service with Redis state.
pub fn redis_acl_file(base: &str, password: impl Fn(&str) -> String, default_user: &str) -> String {
    let mut out = format!("{default_user}\n");
    for (service, _) in REDIS_NAMESPACES {
        if let Some(line) = redis_acl_line(base, service, &password(service)) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// NATS subject matching (`*` one token, `>` the rest), for checking the table itself.
    fn matches(pattern: &str, subject: &str) -> bool {
        let (mut p, mut s) = (pattern.split('.'), subject.split('.'));
        loop {
            match (p.next(), s.next()) {
                (Some(">"), Some(_)) => return true,
                (Some("*"), Some(_)) => {}
                (Some(a), Some(b)) if a == b => {}
                (None, None) => return true,
                _ => return false,
            }
        }
    }

    fn may_publish(service: &str, subject: &str) -> bool {
        let p = nats_permissions(service).unwrap();
        p.publish.iter().any(|a| matches(a, subject)) && !p.publish_deny.iter().any(|d| matches(d, subject))
    }

    #[test]
    fn every_service_has_a_nats_user_and_nothing_else_does() {
        for service in SERVICES {
            assert!(nats_permissions(service).is_some(), "{service}");
        }
        assert!(nats_permissions("nobody").is_none());
    }

    #[test]
    fn a_service_publishes_its_own_subjects_only() {
        assert!(may_publish("search", "events.t1.search.reindex_requested"));
        assert!(!may_publish("search", "events.t1.message.created"));
        assert!(!may_publish("search", "ingest.whatsapp.t1"));
        assert!(!may_publish("search", "notify.t1.u1"));
        assert!(may_publish("channel-ingest", "ingest.whatsapp.t1"));
        assert!(!may_publish("channel-ingest", "outbound.whatsapp.t1"));
        assert!(may_publish("conversation", "outbound.whatsapp.t1"));
        assert!(may_publish("notification", "notify.t1.u1"));
        assert!(!may_publish("routing", "notify.t1.u1"));
    }

    #[test]
    fn streams_are_changed_by_their_manager_only() {
        assert!(may_publish("conversation", "$JS.API.STREAM.UPDATE.EVENTS"));
        assert!(may_publish("channel-ingest", "$JS.API.STREAM.CREATE.INGEST"));
        assert!(!may_publish("channel-ingest", "$JS.API.STREAM.UPDATE.EVENTS"));
        assert!(!may_publish("search", "$JS.API.STREAM.DELETE.EVENTS"));
        assert!(may_publish("search", "$JS.API.STREAM.INFO.EVENTS"));
    }

    #[test]
    fn a_consumer_named_at_run_time_never_reaches_another_services_durable() {
        assert!(may_publish("search", "$JS.API.CONSUMER.CREATE.EVENTS.search-r1.events.>"));
        assert!(may_publish("search", "$JS.API.CONSUMER.MSG.NEXT.EVENTS.search-r1"));
        assert!(may_publish("search", "$JS.ACK.EVENTS.search-r1.1.2.3.4.5"));
        assert!(!may_publish("search", "$JS.API.CONSUMER.MSG.NEXT.EVENTS.routing"));
        assert!(!may_publish("search", "$JS.API.CONSUMER.CREATE.EVENTS.metrics.events.>"));
        assert!(!may_publish("search", "$JS.ACK.EVENTS.notification.1.2.3.4.5"));
        assert!(!may_publish("search", "$JS.API.CONSUMER.MSG.NEXT.INGEST.conversation"));
        assert!(may_publish("gateway", "$JS.API.CONSUMER.CREATE.EVENTS"));
        assert!(may_publish("gateway", "$JS.API.CONSUMER.DELETE.EVENTS.abc"));
        assert!(!may_publish("gateway", "$JS.API.CONSUMER.DELETE.EVENTS.routing"));
        assert!(!may_publish("gateway", "$JS.ACK.EVENTS.routing.1.2.3.4.5"));
    }

    #[test]
    fn each_service_reads_replies_on_its_own_inbox_only() {
        let search = nats_permissions("search").unwrap();
        assert!(search.subscribe.iter().any(|s| matches(s, "_INBOX_search.abc.def")));
        assert!(!search.subscribe.iter().any(|s| matches(s, "_INBOX_gateway.abc.def")));
        assert!(!search.subscribe.iter().any(|s| matches(s, "_INBOX.abc")));
    }

    #[test]
    fn the_authorization_block_names_every_service_with_its_password_quoted() {
        let block = nats_authorization(|s| format!("0{s}\"x"), None);
        for service in SERVICES {
            assert!(block.contains(&format!("user: \"{service}\"\n      password: \"0{service}\\\"x\"\n")), "{block}");
        }
        assert!(!block.contains("publish: \">\""), "no user allowed everything");
        let with_tests = nats_authorization(|s| format!("pw-{s}"), Some(("e2e", "x")));
        assert!(with_tests.contains("user: \"e2e\", password: \"x\", permissions: { publish: \">\""));
    }

    #[test]
    fn redis_users_hold_their_own_keys_and_a_hash_of_the_password() {
        let line = redis_acl_line("inbox:", "routing", "secret").unwrap();
        assert!(line.starts_with("user routing on #2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b "));
        assert!(line.contains(" resetkeys ~inbox:routing:* resetchannels -@all "));
        assert!(!line.contains("secret"));
        assert_eq!(redis_key_prefix("inbox:", "channel-ingest").as_deref(), Some("inbox:ingest:"));
        assert!(redis_acl_line("inbox:", "search", "x").is_none());
        let file = redis_acl_file("inbox:", |s| format!("pw-{s}"), REDIS_DEFAULT_USER_PING_ONLY);
        assert_eq!(file.lines().count(), 4);
        assert!(file.starts_with("user default on nopass resetkeys resetchannels -@all +ping\n"));
    }
}
