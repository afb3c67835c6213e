// Text helpers (webjit/text): tokenization by @huggingface/tokenizers, padding to the bundle's
// shape, pooling of token vectors into sentence embeddings.
import type { Tokenizer } from '@huggingface/tokenizers';
import type { Session, FeedData } from './index.js';

export interface PoolOptions {
  /** 'mean' over the tokens the mask keeps (default, as sentence-transformers pools) or 'cls' (the first token). */
  pooling?: 'mean' | 'cls';
  /** Divide each vector by its length (default true). */
  normalize?: boolean;
}

/** Reads tokenizer.json and tokenizer_config.json from the folder at `base`. */
export function loadTokenizer(base: string | URL, options?: { fetch?: typeof fetch }): Promise<Tokenizer>;

/** Feeds for at most the bundle's batch of texts, padded or cut to its sequence length, and their masks. */
export function encodeBatch(session: Session, tokenizer: Tokenizer, texts: string[]):
  { feeds: Record<string, FeedData>; masks: Uint8Array[] };

/** One vector per mask from a [batch, sequence, dim] output's data. */
export function pool(hidden: ArrayLike<number>, masks: Uint8Array[], dim: number, options?: PoolOptions): Float32Array[];

/** Sentence embeddings of `texts`, run in batches of the bundle's batch size. */
export function embed(session: Session, tokenizer: Tokenizer, texts: string[],
  options?: PoolOptions & { output?: string }): Promise<Float32Array[]>;

/** The cosine of the angle between two vectors. */
export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number;
