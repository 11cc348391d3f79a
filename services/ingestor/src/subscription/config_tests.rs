use std::time::Duration;

use url::Url;

use super::*;
use crate::{
    FeedConfig, SourceConfig,
    auth::Credentials,
    odata::{CDSE_CLIENT_ID, CDSE_TOKEN_URL},
    testing::load_text,
};

const CDSE: &str = "https://catalogue.dataspace.copernicus.eu/odata/v1";
const SUBSCRIPTION: &str = "991c4730-cf6f-432a-9f6c-47be0230ff45";

fn push_table(extra: &str) -> String {
    format!(
        "[[feeds]]\nname = \"push\"\nkind = \"cdse-push\"\nurl = \"{CDSE}\"\n\
         username = \"cdse\"\npassword = \"s3cret\"\n{extra}"
    )
}

fn pull_table(extra: &str) -> String {
    format!(
        "[[feeds]]\nname = \"pull\"\nkind = \"cdse-pull\"\nurl = \"{CDSE}\"\n\
         subscription_id = \"{SUBSCRIPTION}\"\nusername = \"ops@example.org\"\n\
         password = \"hunter2\"\n{extra}"
    )
}

fn error_text(text: &str) -> String {
    nrt_nats::describe_error(&load_text(text).unwrap_err())
}

fn account(username: &str, password: &str) -> Credentials {
    Credentials {
        token_url: Url::parse(CDSE_TOKEN_URL).unwrap(),
        client_id: CDSE_CLIENT_ID.into(),
        username: username.into(),
        password: Secret::new(password),
    }
}

#[test]
fn a_push_feed_listens_on_every_interface_by_default() {
    let config = load_text(&push_table("")).unwrap();
    let source = PushSource {
        listen: "0.0.0.0:8090".parse().unwrap(),
        path: "/notifications".into(),
        username: "cdse".into(),
        password: Secret::new("s3cret"),
        catalogue: OdataSource::new(Url::parse(CDSE).unwrap()),
    };
    assert_eq!(
        config.feeds,
        [FeedConfig::new("push", SourceConfig::CdsePush(source))]
    );
    assert_eq!(config.feeds[0].max_body_bytes, 512 * 1024);
}

#[test]
fn a_full_push_table_sets_every_key() {
    let config = load_text(&push_table(
        "listen = \"127.0.0.1:18090\"\npath = \"/cdse/v1/notify\"\nmax_body_bytes = 65536\n\
         collection = \"SENTINEL-2\"\nproduct_type = \"S2MSI2A\"\n\
         catalogue_username = \"ops@example.org\"\ncatalogue_password = \"hunter2\"\n",
    ))
    .unwrap();
    let feed = &config.feeds[0];
    let SourceConfig::CdsePush(push) = &feed.source else {
        panic!("{:?}", feed.source)
    };
    assert_eq!(push.listen, "127.0.0.1:18090".parse().unwrap());
    assert_eq!(push.path, "/cdse/v1/notify");
    assert_eq!(feed.max_body_bytes, 65536);
    assert_eq!(push.catalogue.collection.as_deref(), Some("SENTINEL-2"));
    assert_eq!(push.catalogue.product_type.as_deref(), Some("S2MSI2A"));
    assert_eq!(
        push.catalogue.credentials,
        Some(account("ops@example.org", "hunter2"))
    );
    let printed = format!("{config:?}");
    assert!(
        !printed.contains("s3cret") && !printed.contains("hunter2"),
        "{printed}"
    );
}

#[test]
fn a_pull_feed_reads_twenty_at_a_time_as_the_owner_of_the_subscription() {
    let config = load_text(&pull_table("poll_interval_secs = 15\n")).unwrap();
    let mut catalogue = OdataSource::new(Url::parse(CDSE).unwrap());
    catalogue.credentials = Some(account("ops@example.org", "hunter2"));
    let mut expected = FeedConfig::new(
        "pull",
        SourceConfig::CdsePull(PullSource {
            subscription_id: SUBSCRIPTION.into(),
            top: 20,
            catalogue,
        }),
    );
    expected.poll_interval = Duration::from_secs(15);
    assert_eq!(config.feeds, [expected]);
}

#[test]
fn bad_subscription_keys_are_refused_by_name() {
    for (table, expected) in [
        (
            push_table("").replace("username = \"cdse\"\n", ""),
            "configuration key feeds[0].username is invalid: is required",
        ),
        (
            push_table("").replace("password = \"s3cret\"\n", ""),
            "configuration key feeds[0].password is invalid: is required",
        ),
        (
            push_table("").replace("\"s3cret\"", "\"\""),
            "configuration key feeds[0].password is invalid: must not be empty",
        ),
        (
            push_table("listen = \"8090\"\n"),
            "configuration key feeds[0].listen is invalid: \"8090\" is not a socket address such as 0.0.0.0:8090",
        ),
        (
            push_table("path = \"notifications\"\n"),
            "configuration key feeds[0].path is invalid: \"notifications\" must start with `/` and hold only letters, digits and -._~/",
        ),
        (
            push_table("path = \"/notify/{id}\"\n"),
            "configuration key feeds[0].path is invalid: \"/notify/{id}\" must start with `/` and hold only letters, digits and -._~/",
        ),
        (
            push_table("catalogue_username = \"ops\"\n"),
            "configuration key feeds[0].catalogue_password is invalid: is required with catalogue_username",
        ),
        (
            push_table("").replace(&format!("url = \"{CDSE}\"\n"), ""),
            "configuration key feeds[0].url is invalid: is required",
        ),
        (
            pull_table("top = 21\n"),
            "configuration key feeds[0].top is invalid: 21 is not from 1 to 20",
        ),
        (
            pull_table("top = 0\n"),
            "configuration key feeds[0].top is invalid: 0 is not from 1 to 20",
        ),
        (
            pull_table("").replace(&format!("subscription_id = \"{SUBSCRIPTION}\"\n"), ""),
            "configuration key feeds[0].subscription_id is invalid: is required",
        ),
        (
            pull_table("").replace(SUBSCRIPTION, "../Products"),
            "configuration key feeds[0].subscription_id is invalid: \"../Products\" is not a subscription id (a UUID such as 991c4730-cf6f-432a-9f6c-47be0230ff45)",
        ),
        (
            pull_table("")
                .replace("username = \"ops@example.org\"\n", "")
                .replace("password = \"hunter2\"\n", ""),
            "configuration key feeds[0].username is invalid: is required: CDSE serves subscriptions only to the account that owns them",
        ),
        (
            pull_table("").replace("username = \"ops@example.org\"\n", ""),
            "configuration key feeds[0].username is invalid: is required with password",
        ),
        (
            pull_table("").replace("\"ops@example.org\"", "\"\""),
            "configuration key feeds[0].username is invalid: must not be empty",
        ),
        (
            pull_table("").replace(CDSE, "ftp://catalogue.example.org/odata/v1"),
            "configuration key feeds[0].url is invalid: ftp://catalogue.example.org/odata/v1 is not an http(s) OData base URL",
        ),
    ] {
        assert_eq!(error_text(&table), expected, "{table}");
    }
}

#[test]
fn a_key_of_another_kind_is_named_with_the_kind() {
    let error = error_text(&push_table("subscription_id = \"x\"\n"));
    assert!(
        error.starts_with("configuration key feeds[0] is invalid: as a cdse-push feed: unknown field `subscription_id`"),
        "{error}"
    );
    let error = error_text(&pull_table("listen = \"0.0.0.0:8090\"\n"));
    assert!(
        error.starts_with(
            "configuration key feeds[0] is invalid: as a cdse-pull feed: unknown field `listen`"
        ),
        "{error}"
    );
}

/// The example file shows both kinds switched off, as `#key = value` lines after a marker (they
/// need secrets and a real subscription); switched on, with their secret files in place, they
/// load.
#[test]
fn the_switched_off_subscription_examples_in_the_example_file_load() {
    const MARKER: &str = "# The subscription kinds below are switched off";
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/ingestor.example.toml");
    let secrets = tempfile::tempdir().unwrap();
    for name in ["cdse-push-password", "cdse-password"] {
        std::fs::write(secrets.path().join(name), "from a mounted secret\n").unwrap();
    }
    let example = std::fs::read_to_string(example).unwrap();
    let (_, section) = example
        .split_once(MARKER)
        .and_then(|(_, rest)| rest.split_once('\n'))
        .expect("the marker is in the example");
    let text: String = section
        .lines()
        .map(|line| match line.strip_prefix('#') {
            // `# prose` stays a comment; `#key = value` is a setting switched off.
            Some(setting) if !setting.starts_with([' ', '#']) && !setting.is_empty() => setting,
            _ => line,
        })
        .map(|line| line.replace("/run/secrets", &secrets.path().display().to_string()) + "\n")
        .collect();
    let config = load_text(&text).unwrap();
    let subscriptions: Vec<(&str, &SourceConfig)> = config
        .feeds
        .iter()
        .map(|feed| (feed.name.as_str(), &feed.source))
        .collect();
    let [
        ("cdse-s2-l2a-push", SourceConfig::CdsePush(push)),
        ("cdse-s1-slc-pull", SourceConfig::CdsePull(pull)),
    ] = subscriptions[..]
    else {
        panic!("{subscriptions:?}")
    };
    assert_eq!(push.password.expose(), "from a mounted secret");
    assert_eq!(push.listen, DEFAULT_LISTEN.parse().unwrap());
    assert_eq!(pull.subscription_id, SUBSCRIPTION);
}
