/**
 * The `mailbridge` command line. Each command is a thin entry; the work lives in its module.
 *   start        HTTP API, hosted pages, dashboard and background workers in one process (default)
 *   api          HTTP only
 *   worker       background work only
 *   emulator     the Microsoft identity + Graph emulator on its own
 *   migrate      apply database migrations
 *   keys rotate  re-wrap every account's data key under the active key
 *   api-keys create --org <name>   create an API key (shown once)
 */
const [command = 'start', ...rest] = process.argv.slice(2);

async function run(): Promise<void> {
  switch (command) {
    case 'emulator': {
      const { runEmulatorCommand } = await import('../emulator/main.js');
      await runEmulatorCommand();
      return;
    }
    default:
      console.error(`mailbridge: unknown command "${[command, ...rest].join(' ')}"`);
      process.exitCode = 2;
  }
}

await run();
