//! Administered resources over the API, written once: for a store
//! [`Resource`] that says where it lives ([`ApiResource`]), `GET` and `POST`
//! on its collection, `GET`, `PUT` and `DELETE` on one of it, and the
//! operations of the OpenAPI document that describe them. Calendars, SLA
//! policies, escalation rules and mailboxes are served this way.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, MethodRouter};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tuki_store::resource::Resource;
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem, Paths,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ArrayBuilder, Schema};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required, ResponseBuilder, ResponsesBuilder};
use utoipa::{PartialSchema, ToSchema};
use utoipa_axum::router::UtoipaMethodRouter;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{id, ApiJson, Auth};
use crate::AppState;

/// Where a resource lives in the API and how the document speaks of it.
pub trait ApiResource: Resource
where
    Self::Record: Serialize + ToSchema,
    Self::Input: DeserializeOwned + ToSchema,
{
    /// The collection's path under `/api/v1`: `/sla/calendars`.
    const PATH: &'static str;
    /// The document's tag.
    const TAG: &'static str;
    /// One of it and many, for the operation ids: `calendar` and
    /// `calendars` give `list_calendars`, `create_calendar`,
    /// `get_calendar`, `update_calendar` and `delete_calendar`.
    const ONE: &'static str;
    const MANY: &'static str;
    /// What the collection holds, for the list's description.
    const ABOUT: &'static str;
}

async fn list<R>(State(s): State<AppState>, Auth(actor): Auth) -> ApiResult<Json<Vec<R::Record>>>
where
    R: ApiResource,
    R::Record: Serialize + ToSchema,
    R::Input: DeserializeOwned + ToSchema,
{
    Ok(Json(s.store.list::<R>(&actor).await?))
}

async fn create<R>(
    State(s): State<AppState>,
    Auth(actor): Auth,
    ApiJson(body): ApiJson<R::Input>,
) -> ApiResult<(StatusCode, Json<R::Record>)>
where
    R: ApiResource,
    R::Record: Serialize + ToSchema,
    R::Input: DeserializeOwned + ToSchema,
{
    let made = s.store.create::<R>(&actor, body).await?;
    Ok((StatusCode::CREATED, Json(made)))
}

async fn read<R>(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
) -> ApiResult<Json<R::Record>>
where
    R: ApiResource,
    R::Record: Serialize + ToSchema,
    R::Input: DeserializeOwned + ToSchema,
{
    Ok(Json(s.store.get::<R>(&actor, id(&raw)?).await?))
}

async fn replace<R>(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<R::Input>,
) -> ApiResult<Json<R::Record>>
where
    R: ApiResource,
    R::Record: Serialize + ToSchema,
    R::Input: DeserializeOwned + ToSchema,
{
    Ok(Json(s.store.replace::<R>(&actor, id(&raw)?, body).await?))
}

async fn delete<R>(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
) -> ApiResult<StatusCode>
where
    R: ApiResource,
    R::Record: Serialize + ToSchema,
    R::Input: DeserializeOwned + ToSchema,
{
    s.store.delete::<R>(&actor, id(&raw)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A JSON body of `schema`.
fn json(schema: impl Into<RefOr<Schema>>) -> utoipa::openapi::Content {
    ContentBuilder::new().schema(Some(schema)).build()
}

fn named<T: ToSchema>() -> Ref {
    Ref::from_schema_name(T::name())
}

/// One operation: its id and words, whether it names one by id, its body,
/// and its answer on success (status, description, body).
struct Op<'a> {
    method: HttpMethod,
    id: String,
    summary: String,
    by_id: bool,
    body: Option<Ref>,
    ok: (&'a str, &'a str, Option<RefOr<Schema>>),
    mistakes: &'a [(&'a str, &'a str)],
}

fn operation(tag: &str, op: Op<'_>) -> (HttpMethod, utoipa::openapi::path::Operation) {
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content("application/json", json(named::<ErrorBody>()))
            .build()
    };
    let mut ok = ResponseBuilder::new().description(op.ok.1);
    if let Some(body) = op.ok.2 {
        ok = ok.content("application/json", json(body));
    }
    let mut responses = ResponsesBuilder::new()
        .response(op.ok.0, ok.build())
        .response("401", error("no valid token"))
        .response("403", error("not an administrator"));
    for (status, description) in op.mistakes {
        responses = responses.response(*status, error(description));
    }
    let mut b = OperationBuilder::new()
        .operation_id(Some(op.id))
        .tag(tag)
        .summary(Some(op.summary))
        .security(SecurityRequirement::new("token", Vec::<String>::new()))
        .responses(responses.build());
    if op.by_id {
        b = b.parameter(
            ParameterBuilder::new()
                .name("id")
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(
                    utoipa::openapi::ObjectBuilder::new()
                        .schema_type(utoipa::openapi::schema::Type::Integer)
                        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                            utoipa::openapi::KnownFormat::Int64,
                        ))),
                )),
        );
    }
    if let Some(body) = op.body {
        b = b.request_body(Some(
            RequestBodyBuilder::new()
                .content("application/json", json(body))
                .required(Some(Required::True))
                .build(),
        ));
    }
    (op.method, b.build())
}

/// The routes of `R` with their operations: the collection and one of it.
pub fn routes<R>() -> [UtoipaMethodRouter<AppState>; 2]
where
    R: ApiResource,
    R::Record: Serialize + ToSchema,
    R::Input: DeserializeOwned + ToSchema,
{
    let mut schemas = Vec::new();
    schemas.push((R::Record::name().into_owned(), R::Record::schema()));
    R::Record::schemas(&mut schemas);
    schemas.push((R::Input::name().into_owned(), R::Input::schema()));
    R::Input::schemas(&mut schemas);
    let (stem, noun) = (R::ONE, R::NOUN);
    let record = || RefOr::Ref(named::<R::Record>());
    let invalid = [
        ("409", "clashes with another one"),
        ("422", "a field is invalid (named)"),
    ];
    let item = format!("{}/{{id}}", R::PATH);
    let ops = [
        (
            R::PATH,
            Op {
                method: HttpMethod::Get,
                id: format!("list_{}", R::MANY),
                summary: R::ABOUT.into(),
                by_id: false,
                body: None,
                ok: (
                    "200",
                    "every one, in order",
                    Some(ArrayBuilder::new().items(record()).build().into()),
                ),
                mistakes: &[],
            },
        ),
        (
            R::PATH,
            Op {
                method: HttpMethod::Post,
                id: format!("create_{stem}"),
                summary: format!("Creates a {noun}."),
                by_id: false,
                body: Some(named::<R::Input>()),
                ok: ("201", "created", Some(record())),
                mistakes: &invalid,
            },
        ),
        (
            item.as_str(),
            Op {
                method: HttpMethod::Get,
                id: format!("get_{stem}"),
                summary: format!("One {noun}."),
                by_id: true,
                body: None,
                ok: ("200", "the one asked for", Some(record())),
                mistakes: &[("404", "no such one")],
            },
        ),
        (
            item.as_str(),
            Op {
                method: HttpMethod::Put,
                id: format!("update_{stem}"),
                summary: format!("Replaces the whole {noun}."),
                by_id: true,
                body: Some(named::<R::Input>()),
                ok: ("200", "as it now stands", Some(record())),
                mistakes: &[
                    ("404", "no such one"),
                    ("409", "clashes with another one"),
                    ("422", "a field is invalid (named)"),
                ],
            },
        ),
        (
            item.as_str(),
            Op {
                method: HttpMethod::Delete,
                id: format!("delete_{stem}"),
                summary: format!("Deletes a {noun} nothing uses any more."),
                by_id: true,
                body: None,
                ok: ("204", "deleted", None),
                mistakes: &[("404", "no such one"), ("409", "still in use")],
            },
        ),
    ];
    let mut collection = Paths::new();
    let mut one = Paths::new();
    for (path, op) in ops {
        let by_id = op.by_id;
        let (method, operation) = operation(R::TAG, op);
        let target = if by_id { &mut one } else { &mut collection };
        match target.paths.get_mut(path) {
            Some(item) => item.merge_operations(PathItem::new(method, operation)),
            None => {
                target
                    .paths
                    .insert(path.to_string(), PathItem::new(method, operation));
            }
        }
    }
    let collection_router: MethodRouter<AppState> = get(list::<R>).post(create::<R>);
    let one_router: MethodRouter<AppState> = get(read::<R>).put(replace::<R>).delete(delete::<R>);
    [
        (schemas, collection, collection_router),
        (Vec::new(), one, one_router),
    ]
}
