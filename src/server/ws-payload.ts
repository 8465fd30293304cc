// ws takes one maxPayload per server, fixed for each socket when it is upgraded; the gateway needs a small one until
// the peer authenticated and the protocol's after. ws checks a frame's length against its receiver's _maxPayload as
// soon as the frame header is read (before buffering any payload), so raising that field is what moves the limit.
// A private field of ws 8: if a ws upgrade renames it, this throws (the gateway tests send large frames after auth).
import type { WebSocket } from 'ws';

export function setMaxPayload(ws: WebSocket, bytes: number): void {
  const receiver = (ws as unknown as { _receiver?: { _maxPayload?: unknown } | null })._receiver;
  if (!receiver || typeof receiver._maxPayload !== 'number') throw new Error('ws internals changed: the socket has no receiver._maxPayload to raise (src/server/ws-payload.ts)');
  receiver._maxPayload = bytes;
}
