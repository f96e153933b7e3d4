//! The documentation says what the binary does: the configuration page lists exactly the flags
//! and environment variables of `--help`, with their defaults, and each way the `Dockerfile`
//! documents to run the image starts.

use std::collections::{BTreeMap, BTreeSet};

use clap::{CommandFactory, Parser};
use telnyx_rooms_graphql::config::Config;

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// What `--help` documents of one option.
struct Documented {
    env: Option<String>,
    default: Option<String>,
}

/// Every option of `--help`, by its long flag.
fn help() -> BTreeMap<String, Documented> {
    let command = Config::command();
    command
        .get_arguments()
        .filter(|arg| !arg.is_hide_set())
        .filter_map(|arg| {
            let long = arg.get_long().filter(|long| !["help", "version"].contains(long))?;
            let env = arg.get_env().map(|env| env.to_string_lossy().into_owned());
            let default = arg.get_default_values().first().map(|value| value.to_string_lossy().into_owned());
            Some((format!("--{long}"), Documented { env, default }))
        })
        .collect()
}

/// The configuration table's rows: the names in each row's first column (flags and
/// environment variables, each the first word of a code span) and its second column.
fn table() -> Vec<(Vec<String>, String)> {
    let page = read("docs/configuration.md");
    page.lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            let columns: Vec<&str> = line.split('|').map(str::trim).collect();
            let names = columns[1]
                .split('`')
                .skip(1)
                .step_by(2)
                .filter_map(|span| span.split_whitespace().next())
                .map(str::to_owned)
                .collect();
            (names, columns[2].to_owned())
        })
        .collect()
}

#[test]
fn the_configuration_page_lists_every_flag_and_variable_of_help_and_nothing_else() {
    let help = help();
    let rows = table();
    let names: BTreeSet<&str> = rows.iter().flat_map(|(names, _)| names.iter().map(String::as_str)).collect();
    let flags: BTreeSet<&str> = names.iter().copied().filter(|name| name.starts_with("--")).collect();
    let variables: BTreeSet<&str> = names.iter().copied().filter(|name| !name.starts_with("--")).collect();

    let help_flags: BTreeSet<&str> = help.keys().map(String::as_str).collect();
    let help_variables: BTreeSet<&str> = help.values().filter_map(|option| option.env.as_deref()).collect();
    let missing: Vec<_> = help_flags.difference(&flags).chain(help_variables.difference(&variables)).collect();
    let stale: Vec<_> = flags.difference(&help_flags).chain(variables.difference(&help_variables)).collect();
    assert!(missing.is_empty(), "in --help but not in docs/configuration.md: {missing:?}");
    assert!(stale.is_empty(), "in docs/configuration.md but not in --help: {stale:?}");
}

#[test]
fn the_configuration_page_gives_each_option_the_default_of_help() {
    let help = help();
    for (names, default) in table() {
        let Some(option) = names.first().and_then(|flag| help.get(flag)) else { continue };
        match option.default.as_deref() {
            // Flags without a value are off unless given; values without a default are unset.
            None | Some("") => assert!(
                ["off", "none"].contains(&default.as_str()) || !default.starts_with('`'),
                "{names:?}: --help has no default, the page says {default}"
            ),
            Some(value) => {
                assert_eq!(default, format!("`{value}`"), "{names:?}: --help's default is {value}")
            }
        }
    }
}

/// Each `docker run` example of the Dockerfile, as its `-e NAME=VALUE` settings.
fn docker_runs() -> Vec<Vec<(String, String)>> {
    read("Dockerfile")
        .lines()
        .filter_map(|line| line.split_once("docker run").map(|(_, rest)| rest.to_owned()))
        .map(|run| {
            let words: Vec<&str> = run.split_whitespace().collect();
            words
                .windows(2)
                .filter(|pair| pair[0] == "-e")
                .filter_map(|pair| pair[1].split_once('='))
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect()
        })
        .collect()
}

#[test]
fn each_way_the_dockerfile_documents_to_run_the_image_starts() {
    let help = help();
    let flag_of = |variable: &str| {
        help.iter()
            .find(|(_, option)| option.env.as_deref() == Some(variable))
            .map(|(flag, _)| flag.clone())
            .unwrap_or_else(|| panic!("the Dockerfile sets {variable}, which --help does not know"))
    };
    // The image's own environment.
    let image = ["--listen-addr", "0.0.0.0:8000"];
    let runs = docker_runs();
    let set = |name: &str| runs.iter().filter(|run| run.iter().any(|(n, _)| n == name)).count();
    assert!(set("AUTH_MODE") >= 1 && set("ALLOW_ANONYMOUS") >= 1, "both safe ways are shown: {runs:?}");
    for run in &runs {
        let mut args: Vec<String> = ["x"].iter().chain(&image).map(|s| s.to_string()).collect();
        for (name, value) in run {
            // `...` stands for the operator's own value.
            let value = if value == "..." { "KEYdocs" } else { value };
            args.extend([flag_of(name), value.to_owned()]);
        }
        let config = Config::try_parse_from(&args).unwrap_or_else(|e| panic!("{run:?}: {e}"));
        assert_eq!(config.startup_refusal(), None, "{run:?}");
    }
    let exposed = Config::try_parse_from(["x", image[0], image[1], "--telnyx-api-key", "KEYdocs"]).unwrap();
    assert!(exposed.startup_refusal().is_some(), "the key alone on the image's address is refused");
}
