/** The Jupyter wire format: frames, HMAC-SHA256 signatures (checked against Python's hmac), tampering. */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { childMessage, decodeMessage, encodeMessage, newHeader, peekMessageType, type JupyterMessage } from '../kernel-extras/wire';

const KEY = 'a0f3c9d2-secret';

function request(): JupyterMessage {
  return { header: newHeader('execute_request', 'session-1', 'tester'), parent_header: {}, metadata: {}, content: { code: '1 + 1', silent: false } };
}

describe('wire format', () => {
  it('frames: identities, delimiter, signature, then header/parent/metadata/content as JSON', () => {
    const identity = Buffer.from([0, 1, 2, 3]);
    const sent = request();
    const frames = encodeMessage(KEY, sent, [identity]);
    expect(frames).toHaveLength(7);
    expect(frames[0]).toEqual(identity);
    expect(frames[1].toString()).toBe('<IDS|MSG>');
    expect(frames[2].toString()).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.parse(frames[6].toString())).toEqual({ code: '1 + 1', silent: false });
    expect(peekMessageType(frames)).toBe('execute_request');

    const { identities, message } = decodeMessage(KEY, frames);
    expect(identities).toEqual([identity]);
    expect(message).toEqual(sent);
    expect(message.header.version).toBe('5.3');
  });

  it("signs exactly as Python's hmac does over the four JSON frames", () => {
    const frames = encodeMessage(KEY, request());
    const python = spawnSync(
      '/usr/bin/python3',
      ['-c', 'import hmac, hashlib, sys; m = hmac.new(sys.argv[1].encode(), digestmod=hashlib.sha256)\nfor p in sys.argv[2:]: m.update(p.encode())\nprint(m.hexdigest())', KEY, ...frames.slice(2).map(String)],
      { encoding: 'utf8' },
    );
    expect(python.status, python.stderr).toBe(0);
    expect(frames[1].toString()).toBe(python.stdout.trim());
  });

  it('rejects a tampered message and a wrong key', () => {
    const frames = encodeMessage(KEY, request());
    const tampered = [...frames];
    tampered[5] = Buffer.from(JSON.stringify({ code: 'process.exit()', silent: false }));
    expect(() => decodeMessage(KEY, tampered)).toThrow(/bad HMAC signature/);
    expect(() => decodeMessage('other-key', frames)).toThrow(/bad HMAC signature/);
    expect(() => decodeMessage(KEY, frames.slice(1))).toThrow(/delimiter/);
  });

  it('replies carry the request header as parent and keep its session', () => {
    const req = request();
    const reply = childMessage(req, 'execute_reply', { status: 'ok' });
    expect(reply.parent_header).toEqual(req.header);
    expect(reply.header.session).toBe('session-1');
    expect(reply.header.msg_id).not.toBe(req.header.msg_id);
  });

  it('an empty key turns signing off, as the connection file allows', () => {
    const frames = encodeMessage('', request());
    expect(frames[1].toString()).toBe('');
    expect(decodeMessage('', frames).message.content.code).toBe('1 + 1');
  });
});
