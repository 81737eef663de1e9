// The socket.io peer for `cargo xtask bench`, WebSocket transport only, compression off.
//   "echo" events come back unchanged (W1, W3).
//   "hello" {nick, rooms} joins rooms; "say" {room, text, client_id} is emitted to the room
//   as "said" (socket.io encodes a broadcast once) (W2).
// With REDIS_URL set (W4) it is one node of several: @socket.io/redis-adapter relays every
// room broadcast through that Redis to the other nodes, as a socket.io deployment scales out.
// Prints "listening on PORT" once ready.
'use strict';
const { createServer } = require('http');
const { Server } = require('socket.io');
const { createAdapter } = require('@socket.io/redis-adapter');
const { createClient } = require('redis');

const http = createServer();
const io = new Server(http, {
  transports: ['websocket'],
  perMessageDeflate: false,
  httpCompression: false,
  serveClient: false,
});
let nextId = 1;

io.on('connection', (socket) => {
  let nick = null;
  socket.on('echo', (data) => socket.emit('echo', data));
  socket.on('hello', (hello) => {
    nick = hello.nick;
    for (const room of hello.rooms) socket.join(room);
    socket.emit('welcome', { user: nick });
  });
  socket.on('say', (say) => {
    const id = nextId++;
    io.to(say.room).emit('said', {
      type: 'said', id, room: say.room, seq: id, from: nick,
      text: say.text, ts: Date.now(), client_id: say.client_id,
    });
  });
});

async function main() {
  if (process.env.REDIS_URL) {
    const pub = createClient({ url: process.env.REDIS_URL });
    const sub = pub.duplicate();
    await Promise.all([pub.connect(), sub.connect()]);
    io.adapter(createAdapter(pub, sub));
  }
  http.listen(0, '127.0.0.1', () => console.log(`listening on ${http.address().port}`));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
