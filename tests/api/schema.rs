//! The committed SDL is the served schema, and responses keep the selection set's order.

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
