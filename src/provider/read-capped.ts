import type { Dispatcher } from 'undici';

/**
 * Reads a response body as UTF-8 text, at most `maxBytes`: a misbehaving server cannot grow our memory.
 * Past the cap the body is destroyed and `tooLarge(maxBytes)` is thrown.
 */
export async function readCapped(
  body: Dispatcher.ResponseData['body'],
  maxBytes: number,
  tooLarge: (maxBytes: number) => Error,
): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > maxBytes) {
      body.destroy();
      throw tooLarge(maxBytes);
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}
