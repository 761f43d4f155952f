//! Batching of concurrent work: many callers hand in one item each and wait for its outcome;
//! a dispatcher gathers what has queued up (at most `max_batch`) into one batch for a worker.
//!
//! Under load one batch (one transaction, say) serves hundreds of items; an idle system still
//! processes a lone item at once. At most `workers` batches run at a time; while all are busy,
//! items keep queueing and the next batch is larger. Nothing is locked across an await: one
//! dispatcher owns the queue and hands each batch to a task of its own.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, oneshot};

/// Processes one batch: returns one outcome per item, in the items' order.
pub trait BatchProcessor: Send + Sync + 'static {
    type Item: Send + 'static;
    type Outcome: Send + 'static;

    fn process(&self, items: Vec<Self::Item>) -> impl Future<Output = Vec<Self::Outcome>> + Send;
}

/// The batcher stopped (its processor panicked or it was shut down) before the item's outcome
/// was known; the caller should retry the item later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the batcher stopped before the item was processed")]
pub struct BatcherStopped;

type Job<P> = (<P as BatchProcessor>::Item, oneshot::Sender<<P as BatchProcessor>::Outcome>);

/// Hands items to a [`BatchProcessor`] in batches. Cheap to share behind an `Arc`.
pub struct Batcher<P: BatchProcessor> {
    jobs: mpsc::Sender<Job<P>>,
}

impl<P: BatchProcessor> Batcher<P> {
    /// Starts the dispatcher: batches of at most `max_batch` items, at most `workers` at once
    /// (both at least 1). It stops when the batcher is dropped and the queue is drained.
    pub fn start(processor: P, workers: usize, max_batch: usize) -> Self {
        let workers = workers.max(1);
        let max_batch = max_batch.max(1);
        let (jobs, queue) = mpsc::channel(max_batch * workers * 2);
        tokio::spawn(dispatch(Arc::new(processor), queue, workers, max_batch));
        Self { jobs }
    }

    /// Queues `item` and waits for its outcome.
    pub async fn submit(&self, item: P::Item) -> Result<P::Outcome, BatcherStopped> {
        let (reply, outcome) = oneshot::channel();
        self.jobs.send((item, reply)).await.map_err(|_| BatcherStopped)?;
        outcome.await.map_err(|_| BatcherStopped)
    }
}

async fn dispatch<P: BatchProcessor>(
    processor: Arc<P>,
    mut queue: mpsc::Receiver<Job<P>>,
    workers: usize,
    max_batch: usize,
) {
    let slots = Arc::new(Semaphore::new(workers));
    loop {
        // A free worker first, then whatever has queued up meanwhile: a busy system batches more.
        let Ok(slot) = slots.clone().acquire_owned().await else { return };
        let mut batch = Vec::with_capacity(max_batch);
        if queue.recv_many(&mut batch, max_batch).await == 0 {
            return;
        }
        let processor = processor.clone();
        tokio::spawn(async move {
            let (items, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
            let outcomes = processor.process(items).await;
            debug_assert_eq!(outcomes.len(), replies.len(), "a processor returns one outcome per item");
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                // The caller may have timed out and gone; its item is then redelivered.
                let _ = reply.send(outcome);
            }
            drop(slot);
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Doubles each number and records the batch sizes and how many batches overlapped.
    #[derive(Default)]
    struct Doubler {
        sizes: Mutex<Vec<usize>>,
        running: AtomicUsize,
        most_running: AtomicUsize,
        gate: tokio::sync::Notify,
    }

    impl BatchProcessor for Arc<Doubler> {
        type Item = u32;
        type Outcome = u32;

        async fn process(&self, items: Vec<u32>) -> Vec<u32> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_running.fetch_max(now, Ordering::SeqCst);
            self.sizes.lock().unwrap().push(items.len());
            if items.contains(&0) {
                self.gate.notified().await;
            }
            for _ in 0..3 {
                tokio::task::yield_now().await; // room for other batches to overlap
            }
            self.running.fetch_sub(1, Ordering::SeqCst);
            items.into_iter().map(|n| n * 2).collect()
        }
    }

    #[tokio::test]
    async fn a_lone_item_is_processed_at_once() {
        let batcher = Batcher::start(Arc::new(Doubler::default()), 2, 16);
        assert_eq!(batcher.submit(21).await, Ok(42));
    }

    #[tokio::test]
    async fn items_waiting_while_the_workers_are_busy_go_in_one_batch_each_with_its_own_outcome() {
        let doubler = Arc::new(Doubler::default());
        let batcher = Arc::new(Batcher::start(doubler.clone(), 1, 64));
        // Item 0 holds the only worker until the gate opens.
        let blocker = tokio::spawn({
            let batcher = batcher.clone();
            async move { batcher.submit(0).await }
        });
        while doubler.sizes.lock().unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
        let waiting: Vec<_> = (1..=10)
            .map(|n| {
                let batcher = batcher.clone();
                tokio::spawn(async move { (n, batcher.submit(n).await) })
            })
            .collect();
        // Let all ten reach the queue, then release the worker.
        while batcher.jobs.capacity() > batcher.jobs.max_capacity() - 10 {
            tokio::task::yield_now().await;
        }
        doubler.gate.notify_one();
        assert_eq!(blocker.await.unwrap(), Ok(0));
        for task in waiting {
            let (n, outcome) = task.await.unwrap();
            assert_eq!(outcome, Ok(n * 2));
        }
        assert_eq!(*doubler.sizes.lock().unwrap(), vec![1, 10]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_more_batches_run_at_once_than_there_are_workers() {
        let doubler = Arc::new(Doubler::default());
        let batcher = Arc::new(Batcher::start(doubler.clone(), 3, 1));
        let tasks: Vec<_> = (1..=50)
            .map(|n| {
                let batcher = batcher.clone();
                tokio::spawn(async move { batcher.submit(n).await })
            })
            .collect();
        for task in tasks {
            assert!(task.await.unwrap().is_ok());
        }
        assert!(doubler.most_running.load(Ordering::SeqCst) <= 3);
        assert_eq!(doubler.sizes.lock().unwrap().len(), 50);
    }
}
