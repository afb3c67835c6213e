// Types of src/npy.js, the .npy reader/writer (exported as 'webjit/npy').

export type NpyDtype = 'float32' | 'int32' | 'int64' | 'bool' | 'uint8';

export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  data: Float32Array | Int32Array | BigInt64Array | Uint8Array;
}

/** Parses .npy bytes (<f4, <i4, <i8, |b1, |u1, C order); `name` appears in error messages. */
export function readNpy(bytes: Uint8Array, name?: string): NpyArray;

/** Encodes an array as .npy bytes (version 1.0, header padded to 64 bytes). */
export function writeNpy(array: {
  dtype: NpyDtype;
  shape: number[];
  data: ArrayLike<number | bigint | boolean>;
}): Uint8Array;
