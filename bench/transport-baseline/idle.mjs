// Opens N idle graphql-transport-ws subscriptions twice over (the second batch's RSS growth is
// the subscribers' alone: one-off costs such as a key's first reload fall in the first) and prints
// the server's RSS growth per subscriber in each batch. Usage: idle.mjs URL PID QUERY N
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
const [url, pid, query, n] = [process.argv[2], process.argv[3], process.argv[4], Number(process.argv[5])];
const rssKiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
const sockets = [];
function open() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, 'graphql-transport-ws');
    ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload: {} })));
    ws.on('message', (data) => {
      const message = JSON.parse(data);
      if (message.type === 'connection_ack') ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query } }));
      else if (message.type === 'next') resolve();
      else if (message.type === 'ping') ws.send(JSON.stringify({ type: 'pong' }));
      else if (message.type === 'error') reject(new Error(data));
    });
    ws.on('error', reject);
    sockets.push(ws);
  });
}
async function batch() {
  for (let i = 0; i < n; i += 100) await Promise.all(Array.from({ length: Math.min(100, n - i) }, open));
  await new Promise((r) => setTimeout(r, 2000));
}
const start = rssKiB();
await batch();
const first = rssKiB();
await batch();
const second = rssKiB();
console.log(`${url}: RSS ${start} -> ${first} -> ${second} KiB; per idle subscriber: first batch ${((first - start) / n).toFixed(1)} KiB, second ${((second - first) / n).toFixed(1)} KiB`);
for (const ws of sockets) ws.terminate();
