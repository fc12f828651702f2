/**
 * The `mailbridge` command line. Each command is a thin entry; the work lives in its module.
 *   start        HTTP API, hosted pages, dashboard and background workers in one process (default)
 *   api          HTTP only
 *   worker       background work only
 *   emulator     the Microsoft identity + Graph emulator on its own
 *   migrate      apply database migrations
 *   keys rotate  re-wrap every account's data key under the active key
 *   api-keys create --org <name> [--admin]   create an API key (shown once)
 *   api-keys list --org <name>               list an organisation's API keys (no secrets)
 *   api-keys revoke --org <name> --id <id>   revoke an API key
 */
const [command = 'start', ...rest] = process.argv.slice(2);

async function run(): Promise<void> {
  switch (command) {
    case 'emulator': {
      const { runEmulatorCommand } = await import('../emulator/main.js');
      await runEmulatorCommand(process.env, rest);
      return;
    }
    case 'start':
    case 'api':
    case 'worker': {
      const [{ main }, { exitOnShutdownSignals }] = await Promise.all([
        import('./main.js'),
        import('./ops/shutdown-signals.js'),
      ]);
      exitOnShutdownSignals(await main(command === 'start' ? 'all' : command));
      return;
    }
    case 'keys': {
      if (rest[0] !== 'rotate') break;
      const [{ loadConfig }, { runKeysRotate }] = await Promise.all([
        import('./config/load-config.js'),
        import('./cli/keys-rotate.js'),
      ]);
      await runKeysRotate(loadConfig(process.env));
      return;
    }
    case 'api-keys': {
      const subcommand = rest[0];
      if (subcommand !== 'create' && subcommand !== 'list' && subcommand !== 'revoke') break;
      const [{ loadConfig }, create, manage, { AppError }] = await Promise.all([
        import('./config/load-config.js'),
        import('./cli/api-keys-create.js'),
        import('./cli/api-keys-manage.js'),
        import('./errors/app-error.js'),
      ]);
      const run = { create: create.runApiKeysCreate, list: manage.runApiKeysList, revoke: manage.runApiKeysRevoke }[
        subcommand
      ];
      try {
        await run(loadConfig(process.env), rest.slice(1));
      } catch (error) {
        if (!(error instanceof AppError) || error.status >= 500) throw error;
        console.error(`mailbridge api-keys ${subcommand}: ${error.message}`);
        process.exitCode = 2;
      }
      return;
    }
    case 'migrate': {
      const [{ loadConfig }, { openDatabase }, { migrateToLatest }] = await Promise.all([
        import('./config/load-config.js'),
        import('./db/open-database.js'),
        import('./db/migrate.js'),
      ]);
      const database = await openDatabase(loadConfig(process.env).database);
      const { applied } = await migrateToLatest(database.db);
      await database.close();
      console.log(applied.length ? `applied ${applied.join(', ')}` : 'the database is up to date');
      return;
    }
  }
  console.error(`mailbridge: unknown command "${[command, ...rest].join(' ')}"`);
  process.exitCode = 2;
}

try {
  await run();
} catch (error) {
  // A problem the service explains (a configuration error, a key ring that cannot open the data, a bad emulator
  // snapshot): its message says what to fix, and a stack trace would bury it. Anything else is a bug: Node prints it
  // in full.
  const [{ AppError }, { EmulatorConfigError }] = await Promise.all([
    import('./errors/app-error.js'),
    import('../emulator/main.js'),
  ]);
  if (!(error instanceof AppError) && !(error instanceof EmulatorConfigError)) throw error;
  console.error(error.message);
  process.exitCode = 1;
}
