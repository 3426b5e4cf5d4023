// The baseline: a bare express app in its own process, answering GET by id and POST from a Map,
// with no auth, no validation and no durability. The gateway's figures are quoted as ratios of it.
import express from 'express';

const app = express();
app.disable('x-powered-by');
app.set('etag', false);
const items = new Map();
for (let i = 0; i < 1000; i++) items.set(`id-${i}`, { id: `id-${i}`, userName: `user${i}@example.com`, active: true, name: { givenName: 'Given', familyName: `Family${i}` } });
let n = 0;
app.get('/items/:id', (req, res) => {
  const item = items.get(req.params.id);
  if (!item) return res.status(404).json({ status: '404' });
  res.json(item);
});
app.post('/items', express.json(), (req, res) => {
  const id = `new-${n++}`;
  const item = { ...req.body, id };
  items.set(id, item);
  res.status(201).json(item);
});
const server = app.listen(0, '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
