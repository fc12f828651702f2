/**
 * A service's output for a failure message, without the dashboard password `mailbridge start` generates and prints
 * once (`password: …`): a failing test must not put a credential in the CI log.
 */
export function withoutPasswords(output: string): string {
  return output.replace(/(password:\s*)\S+/gi, '$1[redacted]');
}
