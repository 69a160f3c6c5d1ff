//! Having an image on the Docker host, as the job's `pull:` policy says.

use bollard::Docker;
use bollard::query_parameters::CreateImageOptions;
use futures_util::StreamExt;
use slipway_engine::ports::{ExecError, PullPolicy};

use super::api::is_not_found;

/// Makes sure `image` is on the Docker host: `if-missing` inspects and pulls when absent,
/// `always` pulls, `never` only inspects.
pub(crate) async fn ensure(
    docker: &Docker,
    image: &str,
    pull: PullPolicy,
) -> Result<(), ExecError> {
    if image.is_empty() {
        return Err(ExecError("the image name is empty".to_owned()));
    }
    if pull != PullPolicy::Always {
        match docker.inspect_image(image).await {
            Ok(_) => return Ok(()),
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                return Err(ExecError(format!(
                    "cannot look up image `{image}` on the Docker host: {e}"
                )));
            }
        }
    }
    match pull {
        PullPolicy::Never => Err(ExecError(format!(
            "image `{image}` is not on the Docker host and `pull: never` forbids pulling it; \
             build or load it first (`docker build`, `docker load`, `docker import`)"
        ))),
        PullPolicy::IfMissing => pull_image(docker, image).await.map_err(|e| {
            ExecError(format!(
                "image `{image}` is not on the Docker host and could not be pulled: {e}; \
                 build or load it first (`docker build`, `docker load`), or set `pull: never` \
                 to use only images already on the host"
            ))
        }),
        PullPolicy::Always => pull_image(docker, image).await.map_err(|e| {
            ExecError(format!(
                "image `{image}` could not be pulled (`pull: always`): {e}; make its registry \
                 reachable, or set `pull: if-missing` to use the copy on the Docker host"
            ))
        }),
    }
}

/// Pulls one image, following the progress stream to its end (where errors are reported).
async fn pull_image(docker: &Docker, image: &str) -> Result<(), String> {
    let (name, tag) = split_reference(image);
    let options = CreateImageOptions {
        from_image: Some(name.to_owned()),
        tag: tag.map(str::to_owned),
        ..Default::default()
    };
    let mut progress = docker.create_image(Some(options), None, None);
    while let Some(event) = progress.next().await {
        event.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Splits `name[:tag]` so that an untagged name pulls `latest` only (the API pulls every tag
/// of a repository when none is given). A reference by digest is passed whole.
fn split_reference(image: &str) -> (&str, Option<&str>) {
    if image.contains('@') {
        return (image, None);
    }
    let last_part = image.rfind('/').map_or(0, |slash| slash + 1);
    match image.rfind(':') {
        Some(colon) if colon > last_part => {
            (image.get(..colon).unwrap_or(image), image.get(colon + 1..))
        }
        _ => (image, Some("latest")),
    }
}

#[cfg(test)]
mod tests {
    use super::split_reference;

    #[test]
    fn references_split_into_name_and_tag() {
        assert_eq!(split_reference("alpine"), ("alpine", Some("latest")));
        assert_eq!(split_reference("alpine:3.20"), ("alpine", Some("3.20")));
        assert_eq!(
            split_reference("localhost:5000/team/app"),
            ("localhost:5000/team/app", Some("latest"))
        );
        assert_eq!(
            split_reference("localhost:5000/app:v1"),
            ("localhost:5000/app", Some("v1"))
        );
        assert_eq!(split_reference("app@sha256:abc"), ("app@sha256:abc", None));
    }
}
