//! The committed SDL is the served schema, and responses keep the selection set's order and
//! the spec's execution rules where async-graphql alone would not.

use serde_json::json;
use telnyx_rooms_graphql::schema::{build, SchemaOptions};

use crate::helpers::{ids, spawn_sample};

#[test]
fn schema_graphql_is_the_exported_sdl_of_the_served_schema() {
    let served = build(SchemaOptions::default()).sdl();
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    assert!(
        served == committed,
        "schema.graphql is out of date; regenerate it with `cargo run -- --print-schema > schema.graphql`"
    );
}

#[tokio::test]
async fn responses_keep_the_selection_sets_field_order() {
    let (_upstream, app) = spawn_sample().await;
    let query = r#"query($id: ID!) { roomSession(id: $id) { participants(first: 1) {
        totalCount
        pageInfo { endCursor hasNextPage startCursor hasPreviousPage }
        nodes { leftAt context id joinedAt sessionId updatedAt }
        edges { cursor node { updatedAt id } }
    } id } }"#;
    let text = app.post(query, json!({ "id": ids::SINGLE_SESSION }), None).await.text().await.unwrap();
    let keys_in_order = [
        "\"roomSession\"",
        "\"participants\"",
        "\"totalCount\"",
        "\"pageInfo\"",
        "\"endCursor\"",
        "\"hasNextPage\"",
        "\"startCursor\"",
        "\"hasPreviousPage\"",
        "\"nodes\"",
        "\"leftAt\"",
        "\"context\"",
        "\"id\"",
        "\"joinedAt\"",
        "\"sessionId\"",
        "\"updatedAt\"",
        "\"edges\"",
        "\"cursor\"",
        "\"node\"",
        "\"updatedAt\"",
        "\"id\"",
    ];
    let mut from = 0;
    for key in keys_in_order {
        let at = text[from..].find(key).unwrap_or_else(|| panic!("{key} missing or out of order in {text}"));
        from += at + key.len();
    }
    assert!(text.ends_with(&format!("\"id\":\"{}\"}}}}}}", ids::SINGLE_SESSION)), "session id comes last: {text}");
}

#[tokio::test]
async fn skipped_selections_place_no_key_and_leave_objects_empty_not_null() {
    let (_upstream, app) = spawn_sample().await;
    let session = ids::SINGLE_SESSION;
    let query = format!(
        r#"query($no: Boolean!) {{ roomSession(id: "{session}") {{ id @include(if: $no) participants(first: 1) {{
            __typename @include(if: $no) totalCount __typename }} }} }}"#
    );
    let text = app.post(&query, json!({ "no": false }), None).await.text().await.unwrap();
    let expected =
        r#"{"data":{"roomSession":{"participants":{"totalCount":1,"__typename":"RoomParticipantConnection"}}}}"#;
    assert_eq!(text, expected);

    let query = format!(r#"{{ roomSession(id: "{session}") {{ id @skip(if: true) }} }}"#);
    let text = app.post(&query, json!({}), None).await.text().await.unwrap();
    assert_eq!(text, r#"{"data":{"roomSession":{}}}"#);
    let text = app.post("{ __typename @skip(if: true) }", json!({}), None).await.text().await.unwrap();
    assert_eq!(text, r#"{"data":{}}"#);
}

#[tokio::test]
async fn fields_under_one_response_key_must_be_one_field_wherever_they_meet() {
    let (_upstream, app) = spawn_sample().await;
    let session = ids::SINGLE_SESSION;
    let conflicting = [
        format!(r#"{{ a: __typename ... on Query {{ a: roomSession(id: "{session}") {{ id }} }} }}"#),
        format!(r#"{{ s: roomSession(id: "{session}") {{ a: id }} s: roomSession(id: "{session}") {{ a: active }} }}"#),
        format!(r#"{{ node(id: "{session}") {{ x: id ... on RoomSession {{ x: active }} }} }}"#),
        format!(
            r#"{{ roomSession(id: "{session}") {{ id }} ...F }} fragment F on Query {{ roomSession(id: "{}") {{ id }} }}"#,
            ids::MEDIUM_SESSION
        ),
    ];
    for query in &conflicting {
        let body: serde_json::Value = app.post(query, json!({}), None).await.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED", "{query}: {body}");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("conflict"), "{body}");
        assert!(body.get("data").is_none(), "{body}");
    }
    // Merged selections of one field are one selection.
    let query =
        format!(r#"{{ s: roomSession(id: "{session}") {{ a: id }} s: roomSession(id: "{session}") {{ b: id }} }}"#);
    let text = app.post(&query, json!({}), None).await.text().await.unwrap();
    assert_eq!(text, format!(r#"{{"data":{{"s":{{"a":"{session}","b":"{session}"}}}}}}"#));
}

/// What a client or a gateway reads from an SDL: every type, field, argument, description and
/// applied directive, one line each, leaving out what only federation adds (`@key`,
/// `@shareable`, the `@link`, `_service`, `_entities` and their types).
fn summary(sdl: &str) -> std::collections::BTreeSet<String> {
    use async_graphql::parser::types::{ConstDirective, InputValueDefinition, TypeKind, TypeSystemDefinition};
    use async_graphql::Positioned;

    const FEDERATION: [&str; 3] = ["key", "shareable", "requiresScopes"];
    let directives = |applied: &[Positioned<ConstDirective>]| {
        let applied = applied.iter().filter(|d| !FEDERATION.contains(&d.node.name.node.as_str()));
        let rendered = applied.map(|d| {
            let args: Vec<String> = d.node.arguments.iter().map(|(n, v)| format!("{}: {}", n.node, v.node)).collect();
            format!("@{}({})", d.node.name.node, args.join(", "))
        });
        rendered.collect::<Vec<_>>().join(" ")
    };
    let input = |owner: &str, value: &InputValueDefinition| {
        let default = value.default_value.as_ref().map(|d| format!(" = {}", d.node)).unwrap_or_default();
        let doc = value.description.as_ref().map(|d| d.node.as_str()).unwrap_or_default();
        format!("{owner}({}: {}{default}) {} \"{doc}\"", value.name.node, value.ty.node, directives(&value.directives))
    };
    let document = async_graphql::parser::parse_schema(sdl).expect("the SDL parses");
    let mut lines = std::collections::BTreeSet::new();
    for definition in document.definitions {
        match definition {
            TypeSystemDefinition::Schema(_) => {}
            TypeSystemDefinition::Directive(d) => {
                let d = d.node;
                let locations: Vec<String> = d.locations.iter().map(|l| format!("{:?}", l.node)).collect();
                lines.insert(format!("directive @{} on {}", d.name.node, locations.join("|")));
                for argument in &d.arguments {
                    lines.insert(input(&format!("@{}", d.name.node), &argument.node));
                }
            }
            TypeSystemDefinition::Type(t) => {
                let t = t.node;
                let name = t.name.node.to_string();
                if matches!(name.as_str(), "_Any" | "_Entity" | "_Service") {
                    continue;
                }
                let doc = t.description.as_ref().map(|d| d.node.as_str()).unwrap_or_default();
                lines.insert(format!("type {name} {} \"{doc}\"", directives(&t.directives)));
                let (fields, implements) = match &t.kind {
                    TypeKind::Object(o) => (&o.fields, &o.implements),
                    TypeKind::Interface(i) => (&i.fields, &i.implements),
                    TypeKind::InputObject(o) => {
                        lines.extend(o.fields.iter().map(|f| input(&name, &f.node)));
                        continue;
                    }
                    TypeKind::Enum(e) => {
                        lines.extend(e.values.iter().map(|v| format!("{name}.{}", v.node.value.node)));
                        continue;
                    }
                    TypeKind::Union(u) => {
                        lines.extend(u.members.iter().map(|m| format!("{name} | {}", m.node)));
                        continue;
                    }
                    TypeKind::Scalar => continue,
                };
                lines.extend(implements.iter().map(|i| format!("{name} implements {}", i.node)));
                for field in fields.iter().map(|f| &f.node) {
                    if matches!(field.name.node.as_str(), "_service" | "_entities") {
                        continue;
                    }
                    let doc = field.description.as_ref().map(|d| d.node.as_str()).unwrap_or_default();
                    let (field_name, ty) = (&field.name.node, &field.ty.node);
                    lines.insert(format!("{name}.{field_name}: {ty} {} \"{doc}\"", directives(&field.directives)));
                    for argument in &field.arguments {
                        lines.insert(input(&format!("{name}.{field_name}"), &argument.node));
                    }
                }
            }
        }
    }
    lines
}

/// Clients compile against `schema.graphql`, gateways compose `_service { sdl }`: both must
/// describe the same API, with the demand-control directives a router reads.
#[tokio::test]
async fn schema_graphql_and_the_federation_sdl_describe_the_same_api() {
    let (_upstream, app) = spawn_sample().await;
    let body = app.query("{ _service { sdl } }", json!({})).await;
    let federation = body["data"]["_service"]["sdl"].as_str().unwrap_or_else(|| panic!("{body}"));
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    let (ours, theirs) = (summary(&committed), summary(federation));
    let only = |a: &std::collections::BTreeSet<String>, b: &std::collections::BTreeSet<String>| {
        a.difference(b).cloned().collect::<Vec<_>>()
    };
    assert_eq!(only(&ours, &theirs), Vec::<String>::new(), "only in schema.graphql");
    assert_eq!(only(&theirs, &ours), Vec::<String>::new(), "only in the federation SDL");
    assert!(ours
        .iter()
        .any(|l| l.starts_with("RoomSession.participants: RoomParticipantConnection! @cost(weight: 10) @listSize(")));
    // The link version that defines @cost and @listSize, and imports them.
    assert!(federation.contains("url: \"https://specs.apollo.dev/federation/v2.9\""), "{federation}");
    assert!(federation.contains("\"@cost\", \"@listSize\""), "{federation}");
}
