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
