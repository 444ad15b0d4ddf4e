import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';

/**
 * The Jupyter wire protocol (messaging spec 5.3): a message travels as ZeroMQ frames
 * [identities…, "<IDS|MSG>", hmac, header, parent_header, metadata, content, buffers…],
 * the hmac being HMAC-SHA256 over the four JSON frames with the connection key.
 */
export const PROTOCOL_VERSION = '5.3';
const DELIMITER = '<IDS|MSG>';

export interface MessageHeader {
  msg_id: string;
  msg_type: string;
  session: string;
  username: string;
  date: string;
  version: string;
}

export interface JupyterMessage {
  header: MessageHeader;
  /** The header of the request this answers; empty for unsolicited messages. */
  parent_header: Partial<MessageHeader>;
  metadata: Record<string, unknown>;
  content: Record<string, unknown>;
}

export interface RoutedMessage {
  /** ZeroMQ routing identities, to send a reply back to the right peer. */
  identities: Buffer[];
  message: JupyterMessage;
}

export function newHeader(msgType: string, session: string, username = 'mmkit'): MessageHeader {
  return {
    msg_id: randomUUID(),
    msg_type: msgType,
    session,
    username,
    date: new Date().toISOString(),
    version: PROTOCOL_VERSION,
  };
}

/** A message answering (or published on behalf of) `parent`, in the parent's session. */
export function childMessage(parent: JupyterMessage, msgType: string, content: Record<string, unknown>): JupyterMessage {
  return {
    header: newHeader(msgType, parent.header.session, parent.header.username),
    parent_header: parent.header,
    metadata: {},
    content,
  };
}

function sign(key: string, frames: readonly (string | Buffer)[]): string {
  // An empty key means the connection file turned signing off.
  if (!key) return '';
  const hmac = createHmac('sha256', key);
  for (const frame of frames) hmac.update(frame);
  return hmac.digest('hex');
}

export function encodeMessage(key: string, message: JupyterMessage, identities: Buffer[] = []): Buffer[] {
  const body = [message.header, message.parent_header, message.metadata, message.content].map((part) =>
    JSON.stringify(part),
  );
  return [...identities, Buffer.from(DELIMITER), Buffer.from(sign(key, body)), ...body.map((part) => Buffer.from(part))];
}

/** Parses and authenticates one message; throws when it is malformed or its signature is wrong. */
export function decodeMessage(key: string, frames: readonly Buffer[]): RoutedMessage {
  const at = frames.findIndex((frame) => frame.toString() === DELIMITER);
  if (at < 0 || frames.length < at + 6) throw new Error('Jupyter message without the <IDS|MSG> delimiter or with missing frames');
  const signature = frames[at + 1];
  const body = frames.slice(at + 2, at + 6);
  const expected = Buffer.from(sign(key, body));
  if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) throw new Error('Jupyter message with a bad HMAC signature (wrong connection key?)');
  const [header, parent_header, metadata, content] = body.map((frame) => JSON.parse(frame.toString()) as unknown);
  return {
    identities: frames.slice(0, at),
    message: {
      header: header as MessageHeader,
      parent_header: parent_header as Partial<MessageHeader>,
      metadata: metadata as Record<string, unknown>,
      content: content as Record<string, unknown>,
    },
  };
}

/** Reads the message type without authenticating, to route a message before handling it. */
export function peekMessageType(frames: readonly Buffer[]): string | undefined {
  const at = frames.findIndex((frame) => frame.toString() === DELIMITER);
  if (at < 0 || frames.length < at + 3) return undefined;
  try {
    return (JSON.parse(frames[at + 2].toString()) as Partial<MessageHeader>).msg_type;
  } catch {
    return undefined;
  }
}
