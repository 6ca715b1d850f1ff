/** A periodic task started by `runEvery`. */
export interface PeriodicTask {
  /** No further rounds; resolves once a round under way has finished. */
  stop(): Promise<void>;
}

/**
 * Runs `round` every `intervalMs`, never two at once: a round still running when the next is due
 * makes that one skip. A failed round goes to `onError` and the next one tries again. The timer does
 * not keep the process alive by itself.
 */
export function runEvery(
  intervalMs: number,
  round: () => Promise<unknown>,
  onError: (err: unknown) => void,
): PeriodicTask {
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    running ??= round()
      .then(
        () => undefined,
        (err: unknown) => onError(err),
      )
      .finally(() => {
        running = undefined;
      });
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
