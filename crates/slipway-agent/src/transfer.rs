//! Artifacts between the agent's store and the server, object by object
//! (see `slipway_store`'s `objects` module for what an artifact's objects
//! are): downloaded before a job for the artifacts of the jobs it needs,
//! uploaded after it for the artifacts it made. Downloads are checked
//! against their digest before they enter the store.

use std::io::{self, Read};
use std::sync::Arc;

use slipway_engine::Upstream;
use slipway_engine::records::{ArtifactKind, ArtifactRecord, Digest};
use slipway_store::{FileStore, executable_marker};
use tokio::sync::{mpsc, watch};

use crate::client::{Api, CallError};
use crate::retry::retrying;

/// Chunks in flight between the network and the blocking import.
const CHUNKS_IN_FLIGHT: usize = 8;

/// Runs a store call on a blocking thread.
async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|e| format!("the store task failed: {e}"))?
}

/// Makes every object of every upstream artifact present in `store`.
pub(crate) async fn download_artifacts(
    api: &Api,
    store: &Arc<FileStore>,
    upstream: &[Upstream],
    give_up: &watch::Receiver<bool>,
) -> Result<(), String> {
    for up in upstream {
        for artifact in &up.artifacts {
            download_artifact(api, store, artifact, give_up)
                .await
                .map_err(|e| {
                    format!(
                        "could not download artifact `{}` of `{}`: {e}",
                        artifact.name, up.key
                    )
                })?;
        }
    }
    Ok(())
}

async fn download_artifact(
    api: &Api,
    store: &Arc<FileStore>,
    artifact: &ArtifactRecord,
    give_up: &watch::Receiver<bool>,
) -> Result<(), String> {
    // The artifact's own object first: a manifest lists the others.
    fetch(api, store, &artifact.digest, true, give_up).await?;
    match artifact.kind {
        ArtifactKind::File => {
            // Present on the server only when the file was executable.
            let marker = executable_marker(&artifact.digest);
            fetch(api, store, &marker, false, give_up).await
        }
        ArtifactKind::Directory => {
            let (files, record) = (store.clone(), artifact.clone());
            let objects =
                blocking(move || files.artifact_objects(&record).map_err(|e| e.0)).await?;
            for digest in objects.iter().skip(1) {
                fetch(api, store, digest, true, give_up).await?;
            }
            Ok(())
        }
    }
}

/// Downloads one object unless the store has it. A missing object is an
/// error when `required`.
async fn fetch(
    api: &Api,
    store: &Arc<FileStore>,
    digest: &Digest,
    required: bool,
    give_up: &watch::Receiver<bool>,
) -> Result<(), String> {
    let (files, wanted) = (store.clone(), digest.clone());
    if blocking(move || files.has_object(&wanted).map_err(|e| e.0)).await? {
        return Ok(());
    }
    let what = format!("downloading object {}", digest.short());
    let fetched = retrying(&what, give_up, || async move {
        let Some(response) = api.get_object(digest).await? else {
            return Ok(false);
        };
        import(store, digest, response).await.map(|()| true)
    })
    .await
    .map_err(|e| e.to_string())?;
    if !fetched && required {
        return Err(format!("the server does not have object {digest}"));
    }
    Ok(())
}

/// Streams an answer's body into the store through a blocking import,
/// which checks the digest. A transfer cut short is retryable.
async fn import(
    store: &Arc<FileStore>,
    digest: &Digest,
    mut response: reqwest::Response,
) -> Result<(), CallError> {
    let (chunks, receiver) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let (files, wanted) = (store.clone(), digest.clone());
    let importer = tokio::task::spawn_blocking(move || {
        files.import_object(&wanted, ChunkReader::new(receiver))
    });
    let mut cut: Option<String> = None;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if chunks.send(Ok(chunk)).await.is_err() {
                    // The import stopped (an error it reports below).
                    break;
                }
            }
            Ok(None) => break,
            Err(error) => {
                let message = error.without_url().to_string();
                let _ = chunks.send(Err(io::Error::other(message.clone()))).await;
                cut = Some(message);
                break;
            }
        }
    }
    drop(chunks);
    let imported = importer
        .await
        .map_err(|e| CallError::Local(format!("the import task failed: {e}")))?;
    if let Some(message) = cut {
        return Err(CallError::Unreachable(format!(
            "the download of object {} was cut short: {message}",
            digest.short()
        )));
    }
    // A digest mismatch is not retried: the server holds damaged bytes.
    imported.map(drop).map_err(|e| CallError::Local(e.0))
}

/// A blocking reader over chunks sent from the async side.
struct ChunkReader<B> {
    chunks: mpsc::Receiver<io::Result<B>>,
    current: B,
    offset: usize,
}

impl<B: AsRef<[u8]> + Default> ChunkReader<B> {
    fn new(chunks: mpsc::Receiver<io::Result<B>>) -> ChunkReader<B> {
        ChunkReader {
            chunks,
            current: B::default(),
            offset: 0,
        }
    }
}

impl<B: AsRef<[u8]> + Default> Read for ChunkReader<B> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let rest = self.current.as_ref().get(self.offset..).unwrap_or_default();
            if !rest.is_empty() {
                let n = rest.len().min(buf.len());
                let (dest, src) = (buf.get_mut(..n), rest.get(..n));
                if let (Some(dest), Some(src)) = (dest, src) {
                    dest.copy_from_slice(src);
                }
                self.offset += n;
                return Ok(n);
            }
            match self.chunks.blocking_recv() {
                Some(Ok(chunk)) => {
                    self.current = chunk;
                    self.offset = 0;
                }
                Some(Err(error)) => return Err(error),
                None => return Ok(0),
            }
        }
    }
}

/// Uploads every object of the artifacts that the server lacks.
pub(crate) async fn upload_artifacts(
    api: &Api,
    store: &Arc<FileStore>,
    artifacts: &[ArtifactRecord],
    give_up: &watch::Receiver<bool>,
) -> Result<(), String> {
    for artifact in artifacts {
        let (files, record) = (store.clone(), artifact.clone());
        let objects = blocking(move || files.artifact_objects(&record).map_err(|e| e.0))
            .await
            .map_err(|e| format!("artifact `{}`: {e}", artifact.name))?;
        for digest in &objects {
            let what = format!("uploading object {}", digest.short());
            retrying(&what, give_up, || async move {
                if api.has_object(digest).await? {
                    return Ok(());
                }
                let file = store
                    .open_object(digest)
                    .map_err(|e| CallError::Local(e.0))?;
                let len = file
                    .metadata()
                    .map_err(|e| CallError::Local(e.to_string()))?
                    .len();
                api.put_object(digest, tokio::fs::File::from_std(file), len)
                    .await
            })
            .await
            .map_err(|e| format!("could not upload artifact `{}`: {e}", artifact.name))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_reader_reads_across_chunks_and_reports_errors() {
        let (tx, rx) = mpsc::channel::<io::Result<Vec<u8>>>(4);
        let sender = std::thread::spawn(move || {
            for chunk in [b"hello ".to_vec(), Vec::new(), b"world".to_vec()] {
                let _ = tx.blocking_send(Ok(chunk));
            }
        });
        let mut text = String::new();
        let read = ChunkReader::new(rx).read_to_string(&mut text);
        let _ = sender.join();
        assert!(read.is_ok());
        assert_eq!(text, "hello world");

        let (tx, rx) = mpsc::channel::<io::Result<Vec<u8>>>(4);
        let _ = tx.try_send(Ok(b"part".to_vec()));
        let _ = tx.try_send(Err(io::Error::other("cut")));
        drop(tx);
        let mut bytes = Vec::new();
        let error = ChunkReader::new(rx).read_to_end(&mut bytes);
        assert!(error.is_err());
    }
}
