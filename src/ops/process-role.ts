/**
 * What one mailbridge process does (issue 5 item 1):
 *   all     HTTP (API, hosted pages, dashboard) and background work: `mailbridge start`, the default
 *   api     HTTP only: `mailbridge api`
 *   worker  background work only, never listens on PORT: `mailbridge worker`
 * Any number of each run side by side on one PostgreSQL database.
 */
export type ProcessRole = 'all' | 'api' | 'worker';
