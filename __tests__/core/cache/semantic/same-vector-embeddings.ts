import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An OpenAI-compatible `/v1/embeddings` endpoint, over real HTTP, that gives every text the same vector: any
 * two prompts are then a perfect match (similarity 1), so only the partition and the meaning guards decide
 * whether a lookup is a hit.
 */
export interface SameVectorEmbeddings {
  readonly url: string;
  /** The texts it was asked to embed, in order. */
  readonly inputs: string[];
  close(): Promise<void>;
}

export async function startSameVectorEmbeddings(): Promise<SameVectorEmbeddings> {
  const inputs: string[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const input = (JSON.parse(body) as { input: string | string[] }).input;
      const texts = Array.isArray(input) ? input : [input];
      inputs.push(...texts);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({
        object: 'list',
        model: 'same-vector',
        data: texts.map((_, index) => ({ object: 'embedding', index, embedding: [0.6, 0.8, 0] })),
        usage: { prompt_tokens: 1, total_tokens: 1 },
      }));
    });
  });
  server.keepAliveTimeout = 1;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    inputs,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
