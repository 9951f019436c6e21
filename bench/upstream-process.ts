import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The fake upstream both resource targets call, in a process of its own so that neither target pays for it: it reads
 * the JSON post and answers a small JSON body, as a social network's "create post" endpoint does.
 */
let served = 0;
const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    served += 1;
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        id: String(served),
        text: (JSON.parse(Buffer.concat(chunks).toString() || '{}') as { text?: unknown }).text ?? null,
      }),
    );
  });
});
server.keepAliveTimeout = 5000;
server.listen(0, '127.0.0.1', () => {
  process.send!({ type: 'ready', url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
});
process.once('message', () => {
  process.send!({ type: 'stopped', served }, () => process.exit(0));
});
