//! Where the facades' tasks run: the caller's tokio runtime when there is one, else one shared
//! background runtime, started the first time it is needed and kept for the life of the
//! process. So every call works from any thread, inside a runtime or not.

use std::sync::OnceLock;

use tokio::runtime::{Builder, Handle, Runtime};

use crate::completion::Completion;
use crate::error::{code, BusinessError};

/// Worker threads of the background runtime: connections are light, and a listener that blocks
/// one worker leaves the other to the rest.
const BACKGROUND_WORKERS: usize = 2;

/// The runtime to spawn on: the current one, or the background runtime. Fails (2302999) only
/// if the background runtime cannot be started (the system refused its threads).
pub(crate) fn handle() -> Result<Handle, BusinessError> {
    if let Ok(current) = Handle::try_current() {
        return Ok(current);
    }
    static BACKGROUND: OnceLock<Result<Runtime, String>> = OnceLock::new();
    BACKGROUND
        .get_or_init(|| {
            Builder::new_multi_thread()
                .worker_threads(BACKGROUND_WORKERS)
                .thread_name("ws-api")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map(|runtime| runtime.handle().clone())
        .map_err(|e| {
            BusinessError::new(
                code::UNKNOWN,
                format!("no tokio runtime is running and the background runtime cannot start: {e}"),
            )
        })
}

/// Hands the outcome of `completion` to `callback`, on the runtime (the caller's, or the
/// background one); at once when no runtime can be had.
pub(crate) fn report<T: Send + 'static>(
    completion: Completion<Result<T, BusinessError>>,
    callback: impl FnOnce(Result<T, BusinessError>) + Send + 'static,
) {
    match crate::runtime::handle() {
        Ok(runtime) => {
            runtime.spawn(async move { callback(completion.await) });
        }
        Err(error) => callback(Err(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_a_runtime_the_background_runtime_runs_the_tasks() {
        let (tx, rx) = std::sync::mpsc::channel();
        handle().unwrap().spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            let _ = tx.send(std::thread::current().name().map(str::to_owned));
        });
        let name = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        assert_eq!(name.as_deref(), Some("ws-api"));
    }

    #[test]
    fn inside_a_runtime_its_handle_is_used() {
        let runtime = Builder::new_current_thread().build().unwrap();
        let id = runtime.block_on(async { handle().unwrap().id() });
        assert_eq!(id, runtime.handle().id());
    }
}
