import { type AddressInfo, createServer } from 'node:net';

/** A port the OS just handed out: a service's PUBLIC_URL and the emulator's redirect URIs must be known before it listens. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
