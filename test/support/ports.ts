import net from 'node:net';

/** A loopback port free a moment ago (the OS picked it). Tests never hard-code ports. */
export function freePort(port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => {
      const bound = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(bound));
    });
  });
}
