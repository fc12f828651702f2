import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs } from 'kysely';

/**
 * Counts the statements run through the Kysely it is plugged into (`db.withPlugin(counter)`): their results (a CTE's
 * builder is transformed as a query of its own, but only the statement returns a result). BEGIN and COMMIT are the
 * driver's, not seen.
 */
export class StatementCounter implements KyselyPlugin {
  count = 0;
  transformQuery({ node }: PluginTransformQueryArgs) {
    return node;
  }
  async transformResult({ result }: PluginTransformResultArgs) {
    this.count += 1;
    return result;
  }
}
