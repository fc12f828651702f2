import type { FastifyRequest } from 'fastify';

/** A string field of a posted form (`application/x-www-form-urlencoded`), or undefined. */
export function formField(request: FastifyRequest, name: string): string | undefined {
  const body = request.body;
  if (typeof body !== 'object' || body === null) return undefined;
  const value = (body as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : undefined;
}
