/**
 * Microsoft's consumer tenant: every personal Microsoft account (Outlook.com, Hotmail, Live) has this `tid`.
 * @see docs/entra.md §1.1, §1.6
 */
export const CONSUMER_TENANT_ID = '9188040d-6c67-4c5b-b112-36a304b66dad';

/** True for a personal Microsoft account's tenant id (`tid`), in any letter case. */
export function isPersonalAccountTenant(tenantId: string): boolean {
  return tenantId.toLowerCase() === CONSUMER_TENANT_ID;
}
