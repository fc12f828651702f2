/**
 * What `work` settles to, or what `onTimeout()` returns if `ms` pass first; the work then goes on unobserved (a
 * promise cannot be cancelled: callers stop waiting, they do not stop it). `work` must not reject: map its error to a
 * value first, so a late rejection is never unhandled.
 */
export async function settleWithin<T, L>(ms: number, work: Promise<T>, onTimeout: () => L): Promise<T | L> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<L>((resolve) => {
    timer = setTimeout(() => resolve(onTimeout()), Math.max(0, ms));
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}
