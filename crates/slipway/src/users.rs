//! `slipway user add` and `slipway user password`: people who sign in to
//! the web UI (server administrators add users and set anyone's password;
//! a user may set their own).

use reqwest::Method;
use serde_json::Value;

use crate::Exit;
use crate::args::{UserAddArgs, UserPasswordArgs};
use crate::client::{ApiError, segment};
use crate::commands::{connect, fail};
use crate::output;
use crate::stdin_value;

pub async fn add(args: UserAddArgs) -> Exit {
    let client = match connect(&args.api) {
        Ok(client) => client,
        Err(exit) => return exit,
    };
    let body = serde_json::json!({ "name": args.name, "admin": args.admin });
    let answer: Value = match client.call(Method::POST, "/api/v1/users", &body).await {
        Ok(answer) => answer,
        Err(error) => return fail(&error),
    };
    let Some(token) = answer.get("token").and_then(Value::as_str) else {
        return fail(&ApiError::Answer("no token in the answer".into()));
    };
    eprintln!(
        "user {} created{}; their first API token (shown this once; the server keeps only its hash):",
        args.name,
        if args.admin {
            " as a server administrator"
        } else {
            ""
        }
    );
    output::line(token);
    eprintln!(
        "set a password for the web UI with `slipway user password {}`",
        args.name
    );
    Exit::Success
}

pub async fn password(args: UserPasswordArgs) -> Exit {
    let example = format!(
        "printf %s \"$PASSWORD\" | slipway user password {}",
        args.name
    );
    let password = match stdin_value::read(&format!("new password of {}", args.name), &example) {
        Ok(password) => password,
        Err(message) => {
            eprintln!("error: {message}");
            return Exit::Usage;
        }
    };
    let client = match connect(&args.api) {
        Ok(client) => client,
        Err(exit) => return exit,
    };
    let path = format!("/api/v1/users/{}/password", segment(&args.name));
    let body = serde_json::json!({ "password": password });
    match client.call_no_answer(Method::PUT, &path, &body).await {
        Ok(()) => {
            output::line(format_args!("password of {} set", args.name));
            Exit::Success
        }
        Err(error) => fail(&error),
    }
}
