/**
 * SIGTERM (orchestrators, `docker stop`, systemd) and SIGINT (Ctrl-C) start the graceful shutdown; the process
 * exits when it is done (0) or failed (1). A second signal while it runs exits at once (1): the operator insists.
 */
export function exitOnShutdownSignals(service: { stop(): Promise<void> }): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      process.stderr.write(`mailbridge: ${signal} again during shutdown: exiting now\n`);
      process.exit(1);
    }
    stopping = true;
    service.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(
          `mailbridge: shutdown failed: ${error instanceof Error ? error.message : String(error)}\n`,
        );
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
