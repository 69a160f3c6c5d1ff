//! The OpenAPI document, generated from the route handlers' annotations
//! and the API types (`utoipa`): it cannot drift from the code.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{
    agent, approvals, audit, environments, hooks, projects, releases, runs, users,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Slipway API", description = "CI/CD in one binary: projects, runs, logs, agents."),
    paths(
        projects::list, projects::get, projects::create, projects::set_secret,
        projects::secret_names, projects::trigger, projects::create_token,
        projects::create_user, projects::set_role, users::set_password,
        runs::list, runs::get, runs::cancel, runs::retry, runs::logs,
        runs::tests, runs::flaky,
        agent::claim, agent::events, agent::finish,
        hooks::deliver,
        environments::show, environments::deployments,
        audit::list, audit::verify,
        approvals::vote, approvals::list, approvals::pending, approvals::wait,
        releases::list, releases::get, releases::create, releases::dora,
    ),
    components(schemas(slipway_api::ErrorBody)),
    modifiers(&BearerToken),
)]
struct ApiDoc;

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
