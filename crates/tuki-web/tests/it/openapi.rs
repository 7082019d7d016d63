//! The OpenAPI document is generated from the code; this snapshot makes every
//! change to the API visible in review.

#[test]
fn openapi_document() {
    let doc = serde_json::to_value(tuki_web::openapi::document()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    insta::assert_json_snapshot!("openapi", doc);
}

#[tokio::test]
async fn served_document_is_the_generated_one() {
    let app = crate::spawn_app(tuki_store::testing::TestDb::sqlite().await).await;
    let served: serde_json::Value = reqwest::get(format!("{}/api/v1/openapi.json", app.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        served,
        serde_json::to_value(tuki_web::openapi::document()).unwrap()
    );
}

/// The document names enum values as Tuki sends and takes them
/// (`walk_in`, not `WalkIn`): each listed enum is exactly its type's names.
#[test]
fn enum_values_are_the_ones_on_the_wire() {
    use tuki_domain::directory::Role;
    use tuki_domain::ticket::{Channel, Priority, TicketState};
    let doc = serde_json::to_value(tuki_web::openapi::document()).unwrap();
    let listed = |name: &str| -> Vec<String> {
        doc["components"]["schemas"][name]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} is an enum of the document"))
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    let names = |all: Vec<&str>| all.into_iter().map(str::to_string).collect::<Vec<_>>();
    assert_eq!(
        listed("Channel"),
        names(Channel::ALL.iter().map(|c| c.as_str()).collect())
    );
    assert_eq!(
        listed("Priority"),
        names(Priority::ALL.iter().map(|c| c.as_str()).collect())
    );
    assert_eq!(
        listed("Role"),
        names(Role::ALL.iter().map(|c| c.as_str()).collect())
    );
    assert_eq!(
        listed("TicketState"),
        names(TicketState::ALL.iter().map(|c| c.as_str()).collect())
    );
}
