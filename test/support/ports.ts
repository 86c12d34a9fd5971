// Ports for servers a test stops and starts again on the same port (a broker outage, a database
// restart). A port taken with listen(0) is in the kernel's ephemeral range, where any outgoing
// connection made meanwhile — a client of another test, of the same test — may be given it as its
// local port, and the restart then fails with "address already in use". These are picked at random
// below that range, where the kernel never assigns ports by itself, and checked free by binding.
import { readFileSync } from 'node:fs';
import net from 'node:net';

const LOWEST = 10_000;

/** The low bound of the kernel's ephemeral port range (32768 where it cannot be read). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > LOWEST + 1000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A free port below the ephemeral range, for a server that will be restarted on it. */
export async function portOutsideEphemeralRange(): Promise<number> {
  const high = ephemeralLow();
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = LOWEST + Math.floor(Math.random() * (high - LOWEST));
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port found between ${LOWEST} and ${high}`);
}
