// The Node `ws` peer for `cargo xtask bench`: what a chat server on ws would do.
//   /echo: every message comes back unchanged (W1, W3).
//   /chat: {"type":"hello",...,"rooms":[...]} joins rooms; {"type":"say",...} is parsed and
//          a "said" event is encoded once and sent to every member of the room (W2).
// Prints "listening on PORT" once ready. Compression is off (ws's default).
'use strict';
const { WebSocketServer } = require('ws');

const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
const rooms = new Map();
let nextId = 1;

server.on('connection', (socket, request) => {
  if (request.url.startsWith('/echo')) {
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
    return;
  }
  let nick = null;
  const joined = [];
  socket.on('message', (data) => {
    const message = JSON.parse(data);
    if (message.type === 'hello') {
      nick = message.nick;
      for (const room of message.rooms) {
        if (!rooms.has(room)) rooms.set(room, new Set());
        rooms.get(room).add(socket);
        joined.push(room);
      }
      socket.send(JSON.stringify({ type: 'welcome', user: nick }));
    } else if (message.type === 'say') {
      const members = rooms.get(message.room);
      if (!members) return;
      const id = nextId++;
      const said = JSON.stringify({
        type: 'said', id, room: message.room, seq: id, from: nick,
        text: message.text, ts: Date.now(), client_id: message.client_id,
      });
      for (const member of members) member.send(said);
    }
  });
  socket.on('close', () => {
    for (const room of joined) rooms.get(room).delete(socket);
  });
});

server.on('listening', () => console.log(`listening on ${server.address().port}`));
